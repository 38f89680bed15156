# The native frame-link addon (hal/native/piwire_link.c): plain C against node_api.h,
# built by node-gyp from `npm install` (hal/native/build.mjs). Linux only: AF_PACKET and
# /dev/net/tun do not exist elsewhere, and there the sim link runs without the addon.
{
  "targets": [
    {
      "target_name": "piwire_link",
      "sources": ["hal/native/piwire_link.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [
        ["OS!='linux'", {"type": "none", "sources!": ["hal/native/piwire_link.c"]}]
      ]
    }
  ]
}
