# syntax=docker/dockerfile:1
# piwire's runtime image, multi-arch (linux/arm64, linux/arm/v7; README "Docker").
#
#   docker buildx build --platform linux/arm64,linux/arm/v7 -t piwire:latest .
#   docker run -d --name piwire --restart=always --network host \
#     --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN \
#     --device /dev/i2c-1 --device /dev/gpiochip0 \
#     -v /etc/piwire:/etc/piwire:ro -v piwire-state:/var/lib/piwire \
#     piwire:latest run --config /etc/piwire/config.json
#
# Build stage: `npm ci` with the C toolchain (builds the N-API addon), the TypeScript
# type check, then `npm run build`: dist/piwire.mjs, the firmware bundled into plain
# JavaScript (deploy/build.mjs). Runtime stage: the bundle, the production dependencies
# and the addon on a slim Node image, run by plain `node` as the unprivileged `node` user.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# node-gyp builds the addon against the headers the Node image ships in
# /usr/local/include/node; without this it downloads them, which fails offline.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp tsconfig.json ./
COPY hal/native ./hal/native
# raw-socket (IP mode, --link ip:IFNAME) builds from source with node-gyp here too.
RUN npm ci --no-audit --no-fund \
 && test -f build/Release/piwire_link.node \
 && test -f node_modules/raw-socket/build/Release/raw.node
COPY . .
RUN npx tsc --noEmit -p tsconfig.json \
 && node deploy/build.mjs \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# ethtool: the firmware switches offloads off itself, and a technician can check them.
# nftables: IP mode checks its RST guard rule at start-up (`nft list chain ...`); that
# needs CAP_NET_ADMIN, which the unprivileged user gets through the binary's file
# capability (the rule itself is added on the host: deploy/interfaces/piwire-rst-guard).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ethtool iproute2 libcap2-bin nftables \
 && rm -rf /var/lib/apt/lists/* \
 && setcap cap_net_admin+ep /usr/sbin/nft
# Docker gives a non-root user no ambient capabilities: --cap-add only fills the bounding
# set. A copy of node carrying CAP_NET_RAW and CAP_NET_ADMIN as file capabilities picks
# them up at exec (and only them: the image's plain `node` stays unprivileged). Without
# --cap-add the exec fails with EPERM, which says loudly what is missing.
RUN cp "$(command -v node)" /usr/local/bin/piwire-node \
 && setcap cap_net_raw,cap_net_admin+ep /usr/local/bin/piwire-node
WORKDIR /opt/piwire
COPY --from=build /build/package.json /build/package-lock.json ./
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/build/Release/piwire_link.node ./build/Release/piwire_link.node
COPY --from=build /build/dist ./dist
COPY --from=build /build/deploy ./deploy
RUN mkdir -p /var/lib/piwire && chown node:node /var/lib/piwire
ENV NODE_ENV=production STATE_DIRECTORY=/var/lib/piwire
USER node
VOLUME ["/var/lib/piwire"]
# 7070 sensors, 2323/2324 shell: served by piwire's own stack on its own interface, not
# by the container's sockets (documentation only; --network host is required).
EXPOSE 7070 2323 2324
# The V8 flags of the service unit's ExecStart (deploy/systemd/piwire.service; the old
# generation starts at 64 MB, which keeps bulk transfers out of back-to-back full
# collections: bench/BASELINE.md, "the bimodal steady state"); test/deploy/node-options.test.ts
# keeps the two the same.
ENTRYPOINT ["/usr/local/bin/piwire-node", "--initial-old-space-size=64", "/opt/piwire/dist/piwire.mjs"]
CMD ["run", "--config", "/etc/piwire/config.json"]
