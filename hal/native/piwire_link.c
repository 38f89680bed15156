/*
 * piwire_link: the kernel side of piwire's frame links, in plain N-API (node_api.h).
 *
 * Two kinds of link share one handle type:
 *   - packet: an AF_PACKET/SOCK_RAW socket bound to one interface (every protocol),
 *     received with recvmmsg and sent with sendmmsg, both batched;
 *   - tap: a /dev/net/tun descriptor in IFF_TAP | IFF_NO_PI mode, read and written one
 *     frame per system call (the tun driver has no batched calls without vnet headers).
 *
 * JavaScript API (hal/link/native.ts wraps and types it):
 *   openPacket(ifname, slotSize, batchSize, promiscuous, onFrames, onError) -> handle
 *   openTap(name, batchSize, onFrames, onError) -> handle   (handle.name: the actual name)
 *   send(handle, frames: Uint8Array[]) -> { sent, bytes, full, failed, error }
 *   close(handle)
 *   kernelDrops(handle) -> frames the kernel dropped for want of socket buffer since the last call
 *   carrier(ifname) -> boolean, mac(ifname) -> Buffer, mtu(ifname) -> number
 *   disableOffloads(ifname) -> { tx, sg, tso, gso, gro, lro: 'off' | errno name }
 *
 * Receiving: a uv_poll watches the descriptor; each readable wakeup drains at most
 * batchSize frames and makes ONE call onFrames(data, lengths, ownFrames, truncated, vlanTagged):
 * `data` is a fresh Buffer holding the kept frames back to back, `lengths` a Uint32Array
 * of their lengths. The frames are copied once, from preallocated receive buffers into
 * that Buffer: handing JS a view of the reused receive buffers would let a frame change
 * under a receiver that kept it. Some frames are not copied, only counted:
 *   - ownFrames: frames this host sends out of the interface (PACKET_OUTGOING). The kernel
 *     never loops a packet socket's own frames back to it, but an ETH_P_ALL socket sees
 *     every other outgoing frame (the kernel's, another process's): output, never input;
 *   - truncated: frames longer than a receive slot;
 *   - vlanTagged: 802.1Q frames. The kernel strips the tag (in hardware or in
 *     __netif_receive_skb_core) before packet sockets see the frame, and reports it only in
 *     PACKET_AUXDATA: without that check, a trunk port's every VLAN would look native.
 * libuv polls level-triggered, so a backlog larger than one batch fires again on the next
 * loop iteration, which keeps the rest of the event loop served under load.
 *
 * Errors from system calls become JS errors whose `code` is the errno name (ENODEV, EPERM),
 * with `syscall` and `interfaceName`, so the message says which interface failed and why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include <node_api.h>
#include <uv.h>

#define MAX_BATCH 1024
/* 4 MiB: a burst at line rate while the event loop is busy must not overflow the socket. */
#define SOCKET_BUFFER_BYTES (4 * 1024 * 1024)
/* The largest frame a tap can hand us: MTU (at most 65535) + Ethernet header + VLAN tag. */
#define TAP_MAX_FRAME (65535 + ETH_HLEN + 4)
/* Tap frames are read back to back into one arena; a read only starts with room for the
   largest frame, so the driver never has to cut one. Four maxima keep the arena at 256 KiB. */
#define TAP_ARENA_BYTES (4 * TAP_MAX_FRAME)
/* An error that repeats on every wakeup would spin the loop: stop polling after this many,
   each within ERROR_BURST_MS of the one before. Errors further apart (an interface flapping
   now and then) never add up to a stop. */
#define MAX_CONSECUTIVE_ERRORS 8
#define ERROR_BURST_MS 1000
/* Room for one PACKET_AUXDATA control message per received frame. */
#define CONTROL_SPACE CMSG_SPACE(sizeof(struct tpacket_auxdata))

typedef enum { LINK_PACKET, LINK_TAP } link_kind;

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref on_frames;
  napi_ref on_error;
  napi_async_context async_context;
  link_kind kind;
  int fd;
  bool closed;       /* close ran: the descriptor is closed and the poll handle is closing */
  bool poll_closed;  /* libuv has finished with the poll handle */
  bool finalized;    /* the JS handle object was garbage collected */
  unsigned consecutive_errors; /* receive errors in quick succession (a spin, not a flap) */
  uint64_t last_error_at;      /* uv_now() of the last receive error, ms */
  unsigned batch_size;
  size_t slot_size;  /* packet: bytes per receive slot */
  size_t arena_size;
  uint8_t *arena;    /* receive memory: packet slots, or the tap arena */
  struct mmsghdr *messages;      /* packet: batch_size receive headers, reused */
  struct iovec *vectors;         /* receive vectors (packet) */
  struct sockaddr_ll *addresses; /* packet: where the kernel reports sll_pkttype */
  uint8_t *controls;             /* packet: PACKET_AUXDATA control messages, one per slot */
  uint8_t **frame_start;         /* frames kept by the current batch */
  uint32_t *frame_length;
  char name[IFNAMSIZ];
} link_t;

typedef struct {
  unsigned count;
  unsigned own_frames;
  unsigned truncated;
  unsigned vlan_tagged;
  size_t total_bytes;
  int error; /* errno of a failed receive call, 0 if none */
} batch_t;

static const napi_type_tag LINK_TYPE_TAG = {0x7069776972652d6cULL, 0x696e6b2d68616e64ULL};

/* ---------- errors ---------- */

static const char *errno_name(int error) {
  switch (error) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EBADFD: return "EBADFD";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case ENOBUFS: return "ENOBUFS";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "EUNKNOWN";
  }
}

/* Builds an Error with Node-style fields: code (errno name), errno (negative, as Node's),
   syscall and interfaceName. Returns NULL only if N-API itself failed. */
static napi_value make_errno_error(napi_env env, const char *syscall, const char *ifname, int error) {
  char message[256];
  snprintf(message, sizeof message, "piwire: %s(%s): %s (%s)", syscall, ifname, errno_name(error), strerror(error));
  napi_value code, text, result, value;
  if (napi_create_string_utf8(env, errno_name(error), NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text) != napi_ok) return NULL;
  if (napi_create_error(env, code, text, &result) != napi_ok) return NULL;
  if (napi_create_int32(env, -error, &value) == napi_ok) napi_set_named_property(env, result, "errno", value);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, result, "syscall", value);
  if (napi_create_string_utf8(env, ifname, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, result, "interfaceName", value);
  return result;
}

static void throw_errno(napi_env env, const char *syscall, const char *ifname, int error) {
  napi_value exception = make_errno_error(env, syscall, ifname, error);
  if (exception != NULL) napi_throw(env, exception);
  else napi_throw_error(env, errno_name(error), "piwire: system call failed");
}

/* Turns an N-API failure into a JS exception unless one is already pending. */
static void throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char message[256];
  snprintf(message, sizeof message, "piwire: N-API call failed (%s): %s", what,
           info != NULL && info->error_message != NULL ? info->error_message : "unknown error");
  napi_throw_error(env, NULL, message);
}

#define NAPI_CALL(env, call)                          \
  do {                                                \
    if ((call) != napi_ok) {                          \
      throw_napi_failure((env), #call);               \
      return NULL;                                    \
    }                                                 \
  } while (0)

/* ---------- argument helpers ---------- */

/* Reads an interface name: 1..IFNAMSIZ-1 bytes. Throws a TypeError/RangeError otherwise. */
static bool get_interface_name(napi_env env, napi_value value, char name[IFNAMSIZ]) {
  size_t length = 0;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    napi_throw_type_error(env, NULL, "piwire: the interface name must be a string");
    return false;
  }
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    throw_napi_failure(env, "napi_get_value_string_utf8");
    return false;
  }
  if (length == 0 || length >= IFNAMSIZ) {
    napi_throw_range_error(env, NULL, "piwire: an interface name has 1 to 15 bytes");
    return false;
  }
  if (napi_get_value_string_utf8(env, value, name, IFNAMSIZ, &length) != napi_ok) {
    throw_napi_failure(env, "napi_get_value_string_utf8");
    return false;
  }
  return true;
}

static bool get_uint32_in(napi_env env, napi_value value, uint32_t low, uint32_t high, const char *what,
                          uint32_t *result) {
  if (napi_get_value_uint32(env, value, result) != napi_ok || *result < low || *result > high) {
    char message[128];
    snprintf(message, sizeof message, "piwire: %s must be an integer in %u..%u", what, low, high);
    napi_throw_range_error(env, NULL, message);
    return false;
  }
  return true;
}

static bool get_function(napi_env env, napi_value value, const char *what) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_function) {
    char message[128];
    snprintf(message, sizeof message, "piwire: %s must be a function", what);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  return true;
}

/* Recovers the link behind a handle, checking it really is one of ours. */
static link_t *get_link(napi_env env, napi_value value) {
  bool tagged = false;
  napi_valuetype type;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_object ||
      napi_check_object_type_tag(env, value, &LINK_TYPE_TAG, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "piwire: not a link handle");
    return NULL;
  }
  return data;
}

/* ---------- interface control (ioctl) ---------- */

/* Runs one interface ioctl on a throwaway datagram socket. Returns 0 or an errno.
   AF_UNIX, not AF_INET: the kernel hands every interface ioctl (SIOCGIF*, SIOCSIFFLAGS,
   SIOCETHTOOL) to dev_ioctl() whatever the socket's family, and the systemd unit lets the
   packet link allocate only AF_PACKET and AF_UNIX sockets (RestrictAddressFamilies). */
static int interface_ioctl(const char *ifname, unsigned long request, struct ifreq *request_block) {
  int control = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (control < 0) return errno;
  memset(request_block->ifr_name, 0, IFNAMSIZ);
  memcpy(request_block->ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
  int result = ioctl(control, request, request_block) < 0 ? errno : 0;
  close(control);
  return result;
}

/* One interface ioctl that must succeed: throws (returning false) if it does not. */
static bool query_interface(napi_env env, const char *ifname, unsigned long request, const char *syscall,
                            struct ifreq *result) {
  int error = interface_ioctl(ifname, request, result);
  if (error != 0) throw_errno(env, syscall, ifname, error);
  return error == 0;
}

/* ---------- link lifetime ---------- */

static void free_link_memory(link_t *link) {
  free(link->arena);
  free(link->messages);
  free(link->vectors);
  free(link->addresses);
  free(link->controls);
  free(link->frame_start);
  free(link->frame_length);
  link->arena = NULL;
  link->messages = NULL;
  link->vectors = NULL;
  link->addresses = NULL;
  link->controls = NULL;
  link->frame_start = NULL;
  link->frame_length = NULL;
}

/* The link struct has two owners, the JS handle (finalizer) and libuv (close callback):
   whichever finishes last frees it. */
static void on_poll_closed(uv_handle_t *handle) {
  link_t *link = handle->data;
  link->poll_closed = true;
  free_link_memory(link);
  if (link->finalized) free(link);
}

static void cleanup_hook(void *data);

/* Stops receiving and releases the descriptor and JS references. Idempotent. */
static void link_shutdown(link_t *link, bool remove_hook) {
  if (link->closed) return;
  link->closed = true;
  /* uv_close stops the poll and takes the descriptor out of epoll right away, so the
     descriptor must still be open here: closed first, its number could already belong to
     another file when libuv deregisters it. */
  uv_close((uv_handle_t *)&link->poll, on_poll_closed);
  close(link->fd);
  link->fd = -1;
  napi_delete_reference(link->env, link->on_frames);
  napi_delete_reference(link->env, link->on_error);
  napi_async_destroy(link->env, link->async_context);
  link->on_frames = NULL;
  link->on_error = NULL;
  link->async_context = NULL;
  if (remove_hook) napi_remove_env_cleanup_hook(link->env, cleanup_hook, link);
}

/* The environment is going away (process exit, worker termination) with the link open. */
static void cleanup_hook(void *data) {
  link_shutdown(data, false);
}

static void finalize_link(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  link_t *link = data;
  link->finalized = true;
  link_shutdown(link, true);
  if (link->poll_closed) free(link);
}

/* ---------- receiving ---------- */

/* Whether the kernel took an 802.1Q tag off this frame (PACKET_AUXDATA). */
static bool vlan_tagged(struct msghdr *header) {
  for (struct cmsghdr *control = CMSG_FIRSTHDR(header); control != NULL; control = CMSG_NXTHDR(header, control)) {
    if (control->cmsg_level != SOL_PACKET || control->cmsg_type != PACKET_AUXDATA) continue;
    struct tpacket_auxdata auxiliary;
    memcpy(&auxiliary, CMSG_DATA(control), sizeof auxiliary);
    /* Kernels before 3.0 set no VALID bit and report a non-zero TCI only. */
    return (auxiliary.tp_status & TP_STATUS_VLAN_VALID) != 0 || auxiliary.tp_vlan_tci != 0;
  }
  return false;
}

static void receive_packet_batch(link_t *link, batch_t *batch) {
  for (unsigned i = 0; i < link->batch_size; i++) {
    /* The kernel writes back the lengths it used: restore the capacities. */
    link->messages[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_ll);
    link->messages[i].msg_hdr.msg_controllen = CONTROL_SPACE;
    link->messages[i].msg_hdr.msg_flags = 0;
    link->messages[i].msg_len = 0;
  }
  int received;
  do {
    received = recvmmsg(link->fd, link->messages, link->batch_size, MSG_DONTWAIT, NULL);
  } while (received < 0 && errno == EINTR);
  if (received < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) batch->error = errno;
    return;
  }
  for (int i = 0; i < received; i++) {
    struct mmsghdr *message = &link->messages[i];
    if (link->addresses[i].sll_pkttype == PACKET_OUTGOING) {
      batch->own_frames++;
    } else if (message->msg_hdr.msg_flags & MSG_TRUNC) {
      batch->truncated++;
    } else if (vlan_tagged(&message->msg_hdr)) {
      batch->vlan_tagged++;
    } else {
      link->frame_start[batch->count] = link->vectors[i].iov_base;
      link->frame_length[batch->count] = message->msg_len;
      batch->total_bytes += message->msg_len;
      batch->count++;
    }
  }
}

static void receive_tap_batch(link_t *link, batch_t *batch) {
  size_t used = 0;
  while (batch->count < link->batch_size && link->arena_size - used >= TAP_MAX_FRAME) {
    ssize_t length = read(link->fd, link->arena + used, link->arena_size - used);
    if (length < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) batch->error = errno;
      return;
    }
    if (length == 0) return;
    link->frame_start[batch->count] = link->arena + used;
    link->frame_length[batch->count] = (uint32_t)length;
    batch->total_bytes += (size_t)length;
    batch->count++;
    used += (size_t)length;
  }
}

/* Calls a JS function as a top-level callback: async hooks see it, process.nextTick and
   promise jobs run after it, and an exception it throws reaches 'uncaughtException'. */
static void call_into_js(link_t *link, napi_ref function_ref, size_t argc, napi_value *argv) {
  napi_env env = link->env;
  napi_value function, receiver, result;
  if (napi_get_reference_value(env, function_ref, &function) != napi_ok || function == NULL) return;
  /* napi_make_callback wants an object as `this` (undefined fails with a TypeError). */
  if (napi_get_global(env, &receiver) != napi_ok) return;
  napi_make_callback(env, link->async_context, receiver, function, argc, argv, &result);
}

/* Nothing may stay pending when control returns to libuv: the exception would surface at
   some unrelated later N-API call. Whatever the callback (or N-API) threw goes to
   process 'uncaughtException', as any exception thrown from an I/O callback does. */
static void raise_pending_exception(napi_env env) {
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok)
    napi_fatal_exception(env, exception);
}

static void deliver_batch(link_t *link, const batch_t *batch) {
  napi_env env = link->env;
  napi_value argv[5], lengths_buffer;
  void *data = NULL;
  void *lengths = NULL;
  if (napi_create_buffer(env, batch->total_bytes, &data, &argv[0]) != napi_ok) return;
  if (napi_create_arraybuffer(env, (size_t)batch->count * sizeof(uint32_t), &lengths, &lengths_buffer) != napi_ok)
    return;
  if (napi_create_typedarray(env, napi_uint32_array, batch->count, lengths_buffer, 0, &argv[1]) != napi_ok) return;
  uint8_t *out = data;
  for (unsigned i = 0; i < batch->count; i++) {
    memcpy(out, link->frame_start[i], link->frame_length[i]);
    out += link->frame_length[i];
  }
  if (batch->count > 0) memcpy(lengths, link->frame_length, (size_t)batch->count * sizeof(uint32_t));
  if (napi_create_uint32(env, batch->own_frames, &argv[2]) != napi_ok) return;
  if (napi_create_uint32(env, batch->truncated, &argv[3]) != napi_ok) return;
  if (napi_create_uint32(env, batch->vlan_tagged, &argv[4]) != napi_ok) return;
  call_into_js(link, link->on_frames, 5, argv);
}

static void deliver_error(link_t *link, const char *syscall, int error, bool fatal) {
  napi_env env = link->env;
  napi_value argv[2];
  argv[0] = make_errno_error(env, syscall, link->name, error);
  if (argv[0] == NULL || napi_get_boolean(env, fatal, &argv[1]) != napi_ok) return;
  call_into_js(link, link->on_error, 2, argv);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  link_t *link = poll->data;
  if (link->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(link->env, &scope) != napi_ok) return;

  batch_t batch = {0, 0, 0, 0, 0, 0};
  const char *syscall = "poll";
  bool fatal = false;
  if (status == UV_EBADF) {
    /* libuv saw POLLERR: it has stopped the handle and reports EBADF, whatever the cause. */
    if (link->kind == LINK_PACKET) {
      /* A packet socket raises POLLERR for a pending socket error: ENETDOWN when its
         interface goes down, ENODEV when it is deleted. Reading SO_ERROR clears it, and
         polling resumes, so frames flow again once the interface is back up. */
      int pending = 0;
      socklen_t length = sizeof pending;
      syscall = "socket error";
      batch.error = EBADF;
      if (getsockopt(link->fd, SOL_SOCKET, SO_ERROR, &pending, &length) == 0 && pending != 0) batch.error = pending;
      int restart = uv_poll_start(&link->poll, UV_READABLE, on_readable);
      if (restart != 0) {
        batch.error = -restart;
        fatal = true;
      }
    } else {
      /* tun raises POLLERR only once its interface is gone: nothing more can arrive. */
      batch.error = ENODEV;
      fatal = true;
    }
  } else if (status < 0) {
    batch.error = -status; /* libuv reports negated errno values on Unix */
  } else if (link->kind == LINK_PACKET) {
    syscall = "recvmmsg";
    receive_packet_batch(link, &batch);
  } else {
    syscall = "read";
    receive_tap_batch(link, &batch);
  }

  if (batch.count > 0 || batch.own_frames > 0 || batch.truncated > 0 || batch.vlan_tagged > 0) {
    link->consecutive_errors = 0;
    deliver_batch(link, &batch);
    raise_pending_exception(link->env);
  }
  /* The receiver may have closed the link; after that nothing here may touch it but flags. */
  if (batch.error != 0 && !link->closed) {
    uint64_t now = uv_now(link->poll.loop);
    if (now - link->last_error_at > ERROR_BURST_MS) link->consecutive_errors = 0;
    link->last_error_at = now;
    link->consecutive_errors++;
    /* A detached tap (its interface deleted under us) fails every read with EBADFD. */
    fatal = fatal || link->consecutive_errors >= MAX_CONSECUTIVE_ERRORS || batch.error == EBADFD;
    if (fatal) uv_poll_stop(&link->poll);
    deliver_error(link, syscall, batch.error, fatal);
    raise_pending_exception(link->env);
  }
  napi_close_handle_scope(link->env, scope);
}

/* ---------- opening ---------- */

static link_t *allocate_link(link_kind kind, const char *name, unsigned batch_size, size_t slot_size) {
  link_t *link = calloc(1, sizeof *link);
  if (link == NULL) return NULL;
  link->kind = kind;
  link->fd = -1;
  link->batch_size = batch_size;
  link->slot_size = slot_size;
  memcpy(link->name, name, strnlen(name, IFNAMSIZ - 1));
  link->arena_size = kind == LINK_PACKET ? (size_t)batch_size * slot_size : TAP_ARENA_BYTES;
  link->arena = malloc(link->arena_size);
  link->frame_start = calloc(batch_size, sizeof *link->frame_start);
  link->frame_length = calloc(batch_size, sizeof *link->frame_length);
  bool ok = link->arena != NULL && link->frame_start != NULL && link->frame_length != NULL;
  if (ok && kind == LINK_PACKET) {
    link->messages = calloc(batch_size, sizeof *link->messages);
    link->vectors = calloc(batch_size, sizeof *link->vectors);
    link->addresses = calloc(batch_size, sizeof *link->addresses);
    link->controls = calloc(batch_size, CONTROL_SPACE);
    ok = link->messages != NULL && link->vectors != NULL && link->addresses != NULL && link->controls != NULL;
    for (unsigned i = 0; ok && i < batch_size; i++) {
      link->vectors[i].iov_base = link->arena + (size_t)i * slot_size;
      link->vectors[i].iov_len = slot_size;
      link->messages[i].msg_hdr.msg_iov = &link->vectors[i];
      link->messages[i].msg_hdr.msg_iovlen = 1;
      link->messages[i].msg_hdr.msg_name = &link->addresses[i];
      link->messages[i].msg_hdr.msg_control = link->controls + (size_t)i * CONTROL_SPACE;
    }
  }
  if (!ok) {
    free_link_memory(link);
    free(link);
    return NULL;
  }
  return link;
}

/* Wraps an opened descriptor in a JS handle and starts polling it. On failure the link
   and its descriptor are released and an exception is pending. */
static napi_value start_link(napi_env env, link_t *link, napi_value on_frames, napi_value on_error, int ifindex) {
  napi_value handle, value, resource_name;
  uv_loop_t *loop = NULL;
  link->env = env;
  int uv_status;
  if (napi_create_object(env, &handle) != napi_ok || napi_create_string_utf8(env, "piwire.link", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_get_uv_event_loop(env, &loop) != napi_ok) {
    goto napi_failure;
  }
  if ((uv_status = uv_poll_init(loop, &link->poll, link->fd)) != 0) {
    throw_errno(env, "uv_poll_init", link->name, -uv_status);
    close(link->fd);
    free_link_memory(link);
    free(link);
    return NULL;
  }
  link->poll.data = link;
  /* From here the poll handle exists, so the link is released through link_shutdown. */
  if (napi_create_reference(env, on_frames, 1, &link->on_frames) != napi_ok ||
      napi_create_reference(env, on_error, 1, &link->on_error) != napi_ok ||
      napi_async_init(env, handle, resource_name, &link->async_context) != napi_ok) {
    throw_napi_failure(env, "link references");
    link->finalized = true; /* no JS owner: the close callback frees it */
    link_shutdown(link, false);
    return NULL;
  }
  /* Tagged before it is wrapped: once wrapped, the finalizer owns the struct, and a failure
     after that point would free it twice. */
  if (napi_type_tag_object(env, handle, &LINK_TYPE_TAG) != napi_ok ||
      napi_wrap(env, handle, link, finalize_link, NULL, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_wrap");
    link->finalized = true;
    link_shutdown(link, false);
    return NULL;
  }
  napi_add_env_cleanup_hook(env, cleanup_hook, link);
  if (napi_create_string_utf8(env, link->name, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, handle, "name", value);
  if (napi_create_int32(env, ifindex, &value) == napi_ok) napi_set_named_property(env, handle, "ifindex", value);
  if ((uv_status = uv_poll_start(&link->poll, UV_READABLE, on_readable)) != 0) {
    throw_errno(env, "uv_poll_start", link->name, -uv_status);
    link_shutdown(link, true); /* the handle's finalizer frees the struct later */
    return NULL;
  }
  return handle;

napi_failure:
  throw_napi_failure(env, "start_link");
  close(link->fd);
  free_link_memory(link);
  free(link);
  return NULL;
}

/* Asks for big socket buffers: the FORCE variants pass the sysctl caps (net.core.rmem_max)
   with CAP_NET_ADMIN; without it the plain option gets what the caps allow. */
static void enlarge_socket_buffers(int fd) {
  int size = SOCKET_BUFFER_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

/* openPacket(ifname, slotSize, batchSize, promiscuous, onFrames, onError) */
static napi_value js_open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  char ifname[IFNAMSIZ] = {0};
  uint32_t slot_size, batch_size;
  bool promiscuous = false;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "piwire: openPacket(ifname, slotSize, batchSize, promiscuous, onFrames, onError)");
    return NULL;
  }
  if (!get_interface_name(env, argv[0], ifname) ||
      !get_uint32_in(env, argv[1], ETH_ZLEN, 65536 + 64, "slotSize", &slot_size) ||
      !get_uint32_in(env, argv[2], 1, MAX_BATCH, "batchSize", &batch_size) ||
      !get_function(env, argv[4], "onFrames") || !get_function(env, argv[5], "onError"))
    return NULL;
  NAPI_CALL(env, napi_get_value_bool(env, argv[3], &promiscuous));

  /* The link speaks Ethernet frames; an interface with another link layer would hand us
     something else at offset 0. */
  struct ifreq request;
  int error;
  if (!query_interface(env, ifname, SIOCGIFHWADDR, "ioctl(SIOCGIFHWADDR)", &request)) return NULL;
  if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    char message[128];
    snprintf(message, sizeof message, "piwire: %s is not an Ethernet interface (hardware type %u)", ifname,
             (unsigned)request.ifr_hwaddr.sa_family);
    napi_throw_error(env, "EAFNOSUPPORT", message);
    return NULL;
  }
  int ifindex = (int)if_nametoindex(ifname);
  if (ifindex == 0) {
    throw_errno(env, "if_nametoindex", ifname, errno);
    return NULL;
  }

  /* Protocol 0 receives nothing until bind: no frame from another interface can slip into
     the queue between socket() and bind() (packet(7)). */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket(AF_PACKET)", ifname, errno);
    return NULL;
  }
  enlarge_socket_buffers(fd);
  int enable = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &enable, sizeof enable) < 0) {
    error = errno;
    close(fd);
    throw_errno(env, "setsockopt(PACKET_AUXDATA)", ifname, error);
    return NULL;
  }
  struct sockaddr_ll address;
  memset(&address, 0, sizeof address);
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
    error = errno;
    close(fd);
    throw_errno(env, "bind(AF_PACKET)", ifname, error);
    return NULL;
  }
  if (promiscuous) {
    /* A socket-scoped membership: the kernel drops it when the socket closes, so a crash
       never leaves the interface promiscuous (unlike setting IFF_PROMISC). */
    struct packet_mreq membership;
    memset(&membership, 0, sizeof membership);
    membership.mr_ifindex = ifindex;
    membership.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) < 0) {
      error = errno;
      close(fd);
      throw_errno(env, "setsockopt(PACKET_MR_PROMISC)", ifname, error);
      return NULL;
    }
  }

  link_t *link = allocate_link(LINK_PACKET, ifname, batch_size, slot_size);
  if (link == NULL) {
    close(fd);
    throw_errno(env, "openPacket", ifname, ENOMEM);
    return NULL;
  }
  link->fd = fd;
  return start_link(env, link, argv[4], argv[5], ifindex);
}

/* openTap(name, batchSize, onFrames, onError); name may hold a %d template ("pw%d"). */
static napi_value js_open_tap(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char name[IFNAMSIZ] = {0};
  uint32_t batch_size;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "piwire: openTap(name, batchSize, onFrames, onError)");
    return NULL;
  }
  if (!get_interface_name(env, argv[0], name) ||
      !get_uint32_in(env, argv[1], 1, MAX_BATCH, "batchSize", &batch_size) ||
      !get_function(env, argv[2], "onFrames") || !get_function(env, argv[3], "onError"))
    return NULL;

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, "open(/dev/net/tun)", name, errno);
    return NULL;
  }
  struct ifreq request;
  memset(&request, 0, sizeof request);
  memcpy(request.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int error = errno;
    close(fd);
    throw_errno(env, "ioctl(TUNSETIFF)", name, error);
    return NULL;
  }
  /* The kernel filled in the actual name (a template like "pw%d" is expanded). */
  memset(name, 0, IFNAMSIZ);
  memcpy(name, request.ifr_name, strnlen(request.ifr_name, IFNAMSIZ - 1));
  int ifindex = (int)if_nametoindex(name);

  link_t *link = allocate_link(LINK_TAP, name, batch_size, 0);
  if (link == NULL) {
    close(fd);
    throw_errno(env, "openTap", name, ENOMEM);
    return NULL;
  }
  link->fd = fd;
  return start_link(env, link, argv[2], argv[3], ifindex);
}

/* ---------- sending ---------- */

typedef struct {
  uint32_t sent;
  double bytes;    /* bytes of the frames sent (a double: JS numbers, no 2^32 wrap) */
  uint32_t full;   /* dropped: the socket or device queue was full (EAGAIN, ENOBUFS) */
  uint32_t failed; /* dropped: any other error */
  int error;       /* errno of the last failure */
} send_result_t;

/* Errors that concern one frame only; the frames after it may still go out. */
static bool frame_specific_error(int error) {
  return error == EMSGSIZE || error == EINVAL || error == EFAULT;
}

static bool queue_full_error(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS;
}

/* Reads frames[index] as bytes. Throws TypeError for anything but a Uint8Array/Buffer. */
static bool get_frame(napi_env env, napi_value frames, uint32_t index, struct iovec *vector) {
  napi_value frame, array_buffer;
  bool is_typed_array = false;
  napi_typedarray_type type;
  size_t length, offset;
  void *data = NULL;
  if (napi_get_element(env, frames, index, &frame) != napi_ok ||
      napi_is_typedarray(env, frame, &is_typed_array) != napi_ok || !is_typed_array ||
      napi_get_typedarray_info(env, frame, &type, &length, &data, &array_buffer, &offset) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "piwire: send() takes an array of Uint8Array frames");
    return false;
  }
  vector->iov_base = data;
  vector->iov_len = length;
  return true;
}

#define SEND_CHUNK 64

/* sendmmsg in chunks of SEND_CHUNK; the socket is bound to the interface, so no address. */
static bool send_packet(napi_env env, link_t *link, napi_value frames, uint32_t count, send_result_t *result) {
  struct mmsghdr messages[SEND_CHUNK];
  struct iovec vectors[SEND_CHUNK];
  for (uint32_t base = 0; base < count; base += SEND_CHUNK) {
    uint32_t chunk = count - base < SEND_CHUNK ? count - base : SEND_CHUNK;
    memset(messages, 0, sizeof messages);
    for (uint32_t i = 0; i < chunk; i++) {
      if (!get_frame(env, frames, base + i, &vectors[i])) return false;
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    uint32_t done = 0;
    while (done < chunk) {
      int sent = sendmmsg(link->fd, messages + done, chunk - done, MSG_DONTWAIT);
      if (sent > 0) {
        for (int i = 0; i < sent; i++) result->bytes += messages[done + (uint32_t)i].msg_len;
        done += (uint32_t)sent;
        result->sent += (uint32_t)sent;
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      int error = sent < 0 ? errno : EIO;
      result->error = error;
      if (frame_specific_error(error)) {
        result->failed++;
        done++;
        continue;
      }
      /* The queue is full or the device is gone: the rest of the batch would fail the same
         way, so it is dropped now rather than retried into a busy loop. */
      uint32_t rest = count - (base + done);
      if (queue_full_error(error)) result->full += rest;
      else result->failed += rest;
      return true;
    }
  }
  return true;
}

static bool send_tap(napi_env env, link_t *link, napi_value frames, uint32_t count, send_result_t *result) {
  for (uint32_t i = 0; i < count; i++) {
    struct iovec vector;
    if (!get_frame(env, frames, i, &vector)) return false;
    ssize_t written;
    do {
      written = write(link->fd, vector.iov_base, vector.iov_len);
    } while (written < 0 && errno == EINTR);
    if (written >= 0) {
      result->sent++;
      result->bytes += (double)written;
      continue;
    }
    int error = errno;
    result->error = error;
    if (frame_specific_error(error)) {
      result->failed++;
      continue;
    }
    if (queue_full_error(error)) result->full += count - i;
    else result->failed += count - i;
    return true;
  }
  return true;
}

/* send(handle, frames) -> { sent, bytes, full, failed, error } (error: errno name or undefined) */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], output, value;
  bool is_array = false;
  uint32_t count = 0;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "piwire: send(handle, frames)");
    return NULL;
  }
  link_t *link = get_link(env, argv[0]);
  if (link == NULL) return NULL;
  if (link->closed) {
    throw_errno(env, "send", link->name, EBADF);
    return NULL;
  }
  NAPI_CALL(env, napi_is_array(env, argv[1], &is_array));
  if (!is_array) {
    napi_throw_type_error(env, NULL, "piwire: send() takes an array of Uint8Array frames");
    return NULL;
  }
  NAPI_CALL(env, napi_get_array_length(env, argv[1], &count));
  send_result_t result = {0, 0, 0, 0, 0};
  bool ok = link->kind == LINK_PACKET ? send_packet(env, link, argv[1], count, &result)
                                      : send_tap(env, link, argv[1], count, &result);
  if (!ok) return NULL;
  NAPI_CALL(env, napi_create_object(env, &output));
  NAPI_CALL(env, napi_create_uint32(env, result.sent, &value));
  NAPI_CALL(env, napi_set_named_property(env, output, "sent", value));
  NAPI_CALL(env, napi_create_double(env, result.bytes, &value));
  NAPI_CALL(env, napi_set_named_property(env, output, "bytes", value));
  NAPI_CALL(env, napi_create_uint32(env, result.full, &value));
  NAPI_CALL(env, napi_set_named_property(env, output, "full", value));
  NAPI_CALL(env, napi_create_uint32(env, result.failed, &value));
  NAPI_CALL(env, napi_set_named_property(env, output, "failed", value));
  if (result.error != 0) {
    NAPI_CALL(env, napi_create_string_utf8(env, errno_name(result.error), NAPI_AUTO_LENGTH, &value));
  } else {
    NAPI_CALL(env, napi_get_undefined(env, &value));
  }
  NAPI_CALL(env, napi_set_named_property(env, output, "error", value));
  return output;
}

/* close(handle): idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "piwire: close(handle)");
    return NULL;
  }
  link_t *link = get_link(env, argv[0]);
  if (link == NULL) return NULL;
  link_shutdown(link, true);
  return NULL;
}

/* kernelDrops(handle): frames the kernel dropped because the socket's receive buffer was
   full (PACKET_STATISTICS tp_drops; reading resets the kernel's counters). The link never
   saw those frames, so only the kernel can count them. 0 for a tap (its drops are in the
   interface statistics) and for a closed link. */
static napi_value js_kernel_drops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "piwire: kernelDrops(handle)");
    return NULL;
  }
  link_t *link = get_link(env, argv[0]);
  if (link == NULL) return NULL;
  uint32_t drops = 0;
  if (!link->closed && link->kind == LINK_PACKET) {
    struct tpacket_stats statistics;
    socklen_t length = sizeof statistics;
    if (getsockopt(link->fd, SOL_PACKET, PACKET_STATISTICS, &statistics, &length) < 0) {
      throw_errno(env, "getsockopt(PACKET_STATISTICS)", link->name, errno);
      return NULL;
    }
    drops = statistics.tp_drops;
  }
  NAPI_CALL(env, napi_create_uint32(env, drops, &result));
  return result;
}

/* ---------- interface queries ---------- */

/* Reads the one interface-name argument of carrier/mac/mtu/disableOffloads. */
static bool get_interface_argument(napi_env env, napi_callback_info info, const char *usage, char ifname[IFNAMSIZ]) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_get_cb_info");
    return false;
  }
  if (argc < 1) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  return get_interface_name(env, argv[0], ifname);
}

static napi_value js_carrier(napi_env env, napi_callback_info info) {
  char ifname[IFNAMSIZ] = {0};
  struct ifreq request;
  napi_value result;
  if (!get_interface_argument(env, info, "piwire: carrier(ifname)", ifname) ||
      !query_interface(env, ifname, SIOCGIFFLAGS, "ioctl(SIOCGIFFLAGS)", &request))
    return NULL;
  /* IFF_RUNNING is the kernel's operational state: administratively up and carrier on. */
  bool up = (request.ifr_flags & IFF_UP) && (request.ifr_flags & IFF_RUNNING);
  NAPI_CALL(env, napi_get_boolean(env, up, &result));
  return result;
}

static napi_value js_mac(napi_env env, napi_callback_info info) {
  char ifname[IFNAMSIZ] = {0};
  struct ifreq request;
  napi_value result;
  void *data = NULL;
  if (!get_interface_argument(env, info, "piwire: mac(ifname)", ifname) ||
      !query_interface(env, ifname, SIOCGIFHWADDR, "ioctl(SIOCGIFHWADDR)", &request))
    return NULL;
  NAPI_CALL(env, napi_create_buffer_copy(env, ETH_ALEN, request.ifr_hwaddr.sa_data, &data, &result));
  return result;
}

static napi_value js_mtu(napi_env env, napi_callback_info info) {
  char ifname[IFNAMSIZ] = {0};
  struct ifreq request;
  napi_value result;
  if (!get_interface_argument(env, info, "piwire: mtu(ifname)", ifname) ||
      !query_interface(env, ifname, SIOCGIFMTU, "ioctl(SIOCGIFMTU)", &request))
    return NULL;
  NAPI_CALL(env, napi_create_int32(env, request.ifr_mtu, &result));
  return result;
}

/* One legacy ethtool command on an interface; returns 0 or an errno. */
static int ethtool_command(const char *ifname, struct ethtool_value *value) {
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_data = (char *)value;
  return interface_ioctl(ifname, SIOCETHTOOL, &request);
}

/* Switches one legacy ethtool feature off, only if it is on: reading needs no privilege,
   so an interface that the unit's ExecStartPre helper already prepared costs the firmware
   no CAP_NET_ADMIN (deploy/systemd/piwire.service does not grant it). */
static int ethtool_feature_off(const char *ifname, uint32_t get_command, uint32_t set_command) {
  struct ethtool_value value = {.cmd = get_command, .data = 0};
  int error = ethtool_command(ifname, &value);
  if (error != 0 || value.data == 0) return error;
  value.cmd = set_command;
  value.data = 0;
  return ethtool_command(ifname, &value);
}

/* LRO lives in the flags bitmap: read, clear the bit, write back only if it was set. */
static int ethtool_lro_off(const char *ifname) {
  struct ethtool_value value = {.cmd = ETHTOOL_GFLAGS, .data = 0};
  int error = ethtool_command(ifname, &value);
  if (error != 0 || !(value.data & ETH_FLAG_LRO)) return error;
  value.cmd = ETHTOOL_SFLAGS;
  value.data &= ~(uint32_t)ETH_FLAG_LRO;
  return ethtool_command(ifname, &value);
}

/* disableOffloads(ifname): best effort, each feature reported as 'off' or the errno name.
   The stack computes and checks every checksum and sees every segment as sent on the wire:
   a NIC or the kernel merging segments (GRO/LRO) or leaving checksums to hardware would
   hand it frames no peer ever sent. */
static napi_value js_disable_offloads(napi_env env, napi_callback_info info) {
  napi_value result, value;
  char ifname[IFNAMSIZ] = {0};
  if (!get_interface_argument(env, info, "piwire: disableOffloads(ifname)", ifname)) return NULL;
  static const struct {
    const char *name;
    uint32_t get_command;
    uint32_t set_command;
  } features[] = {
      /* Segmentation first: some drivers refuse to drop checksumming while TSO needs it. */
      {"tso", ETHTOOL_GTSO, ETHTOOL_STSO}, {"gso", ETHTOOL_GGSO, ETHTOOL_SGSO},
      {"gro", ETHTOOL_GGRO, ETHTOOL_SGRO}, {"sg", ETHTOOL_GSG, ETHTOOL_SSG},
      {"tx", ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM},
  };
  NAPI_CALL(env, napi_create_object(env, &result));
  for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
    int error = ethtool_feature_off(ifname, features[i].get_command, features[i].set_command);
    NAPI_CALL(env, napi_create_string_utf8(env, error == 0 ? "off" : errno_name(error), NAPI_AUTO_LENGTH, &value));
    NAPI_CALL(env, napi_set_named_property(env, result, features[i].name, value));
  }
  int error = ethtool_lro_off(ifname);
  NAPI_CALL(env, napi_create_string_utf8(env, error == 0 ? "off" : errno_name(error), NAPI_AUTO_LENGTH, &value));
  NAPI_CALL(env, napi_set_named_property(env, result, "lro", value));
  return result;
}

/* ---------- systemd notification (sd_notify(3)) ---------- */

/* notify(socketPath, message): one AF_UNIX datagram to $NOTIFY_SOCKET, sent by this (the
   unit's main) process, so the unit can say NotifyAccess=main. A leading '@' names an
   abstract socket. Returns undefined when sent, else the errno name (ENOENT, EMSGSIZE...).
   Bad arguments (not strings, a path too long for sun_path) throw. */
static napi_value js_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  struct sockaddr_un address;
  char message[4096];
  size_t path_length = 0, message_length = 0;
  napi_valuetype types[2] = {napi_undefined, napi_undefined};
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 2) {
    NAPI_CALL(env, napi_typeof(env, argv[0], &types[0]));
    NAPI_CALL(env, napi_typeof(env, argv[1], &types[1]));
  }
  if (types[0] != napi_string || types[1] != napi_string) {
    napi_throw_type_error(env, NULL, "piwire: notify(socketPath, message)");
    return NULL;
  }
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_length));
  if (path_length == 0 || path_length >= sizeof address.sun_path) {
    napi_throw_range_error(env, NULL, "piwire: notify socket path is empty or too long");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], address.sun_path, sizeof address.sun_path, &path_length));
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], NULL, 0, &message_length));
  if (message_length >= sizeof message) {
    napi_throw_range_error(env, NULL, "piwire: notify message longer than 4095 bytes");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], message, sizeof message, &message_length));
  int error = 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno;
  } else {
    socklen_t length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
    if (sendto(fd, message, message_length, MSG_NOSIGNAL, (struct sockaddr *)&address, length) < 0) error = errno;
    close(fd);
  }
  if (error == 0) {
    NAPI_CALL(env, napi_get_undefined(env, &result));
  } else {
    NAPI_CALL(env, napi_create_string_utf8(env, errno_name(error), NAPI_AUTO_LENGTH, &result));
  }
  return result;
}

/* ---------- module ---------- */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"openPacket", NULL, js_open_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openTap", NULL, js_open_tap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"kernelDrops", NULL, js_kernel_drops, NULL, NULL, NULL, napi_enumerable, NULL},
      {"carrier", NULL, js_carrier, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mac", NULL, js_mac, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mtu", NULL, js_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"disableOffloads", NULL, js_disable_offloads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"notify", NULL, js_notify, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
