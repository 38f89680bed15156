/*
 * piwire_link: the kernel side of piwire's frame links, in plain N-API (node_api.h).
 *
 * Two kinds of link share one handle type:
 *   - packet: an AF_PACKET/SOCK_RAW socket bound to one interface (every protocol),
 *     received through a PACKET_MMAP ring (TPACKET_V2 or V3) or with recvmmsg, sent with
 *     sendmmsg, batched;
 *   - tap: a /dev/net/tun descriptor in IFF_TAP | IFF_NO_PI mode, read and written one
 *     frame per system call (the tun driver has no batched calls without vnet headers).
 *
 * JavaScript API (hal/link/native.ts wraps and types it):
 *   openPacket(ifname, slotSize, batchSize, promiscuous, ignoreOutgoing, receiveMode, onFrames, onError) -> handle
 *     (receiveMode: 'tpacket-v2' | 'tpacket-v3' | 'recvmmsg' | 'recvmsg')
 *   openTap(name, batchSize, onFrames, onError) -> handle   (handle.name: the actual name)
 *     handle: { name, ifindex, memory, frameOffsets, frameLengths, receiveMode, ringFallback?, outgoingFallback? }
 *   send(handle, frames: Uint8Array[], segmentSizes?: Uint16Array) -> sent (all went) | { sent, bytes, full, failed, error }
 *   enableSegmentOffload(handle) -> undefined (on) | the failed call and errno name
 *   close(handle)
 *   kernelStatistics(handle) -> { drops, freezes } since the last call (PACKET_STATISTICS)
 *   carrier(ifname) -> boolean, mac(ifname) -> Buffer, mtu(ifname) -> number
 *   disableOffloads(ifname, keepGro) -> { tx, sg, tso, gso, gro, lro: 'off' | errno name | 'kept' }
 *   mergesReceived(ifname) -> boolean: the kernel merges received segments (GRO or LRO active)
 *
 * Receiving: a uv_poll watches the descriptor; each readable wakeup reads a batch and makes
 * one call onFrames(count, ownFrames, truncated, vlanTagged, merged, coalesced, more) per read;
 * while a read comes back full it reads again (up to MAX_READS_PER_WAKEUP), and `more` tells
 * JS that the next call's frames belong to the same receive batch. The frames are not
 * copied: frame i of the batch is handle.memory[frameOffsets[i], + frameLengths[i]), where
 * `memory` is one ArrayBuffer over the receive memory made once at open:
 *   - tpacket-v2: the mmapped ring; a batch is up to batchSize frames the kernel has marked
 *     TP_STATUS_USER, in ring order;
 *   - tpacket-v3: the mmapped ring; a batch is one whole block, which the kernel hands over
 *     when it is full or its timer (RING_V3_BLOCK_TIMEOUT_MS) fires;
 *   - recvmmsg (packet, only when asked for or when the ring cannot be set up: then
 *     handle.ringFallback names the failed call) and read (tap): preallocated slots;
 *   - recvmsg (packet, for an interface whose kernel merges received segments): one
 *     recvmsg per frame, back to back into an arena, each read with room for the largest
 *     IPv4 packet. GRO (or LRO) hands a packet socket the merged frame, up to 64 KiB: a
 *     ring's fixed frames would cut it (counted as truncated, the data lost), and a
 *     macvlan cannot switch GRO off at all (its parent's NAPI merges before the macvlan
 *     sees the frame; ethtool shows "on [requested off]"). `merged` counts them.
 * Receive coalescing (packet, `coalesce` at open): after a batch is read, each run of one
 * flow's consecutive in-order TCP segments (verified checksums, no IP options, only ACK
 * and PSH, the same ACK, window and options, none longer than the first) is merged into
 * one frame in the merge memory (handle.mergeMemory), as GRO does (coalesce_batch);
 * `coalesced` counts the frames merged away, and their merged frame carries bit 30.
 * Checksums: every packet mode reads the kernel's checksum status of the frame (the ring
 * header's or PACKET_AUXDATA's tp_status). TP_STATUS_CSUMNOTREADY (a partial checksum:
 * GRO verified each segment before merging, or the frame was built on this host) and
 * TP_STATUS_CSUM_VALID (the NIC or the kernel verified it) vouch for a TCP/IPv4 segment
 * as bit 31 of its length does (FRAME_TCP_CHECKSUM_GOOD); otherwise the addon sums the
 * segment itself. A partial checksum (TCP or UDP) is completed in place first, so the
 * frame is right for any reader: a capture, a wrapper that drops the mark.
 * The contract (hal/link/link.ts): a frame is valid only during the call. When onFrames
 * returns, the batch's ring slots go back to the kernel (TP_STATUS_KERNEL) and the slots
 * are reused; when the link closes, `memory` is detached before it is unmapped or freed,
 * so a view kept against the contract reads as empty, never as freed memory. Every offset
 * the kernel writes into the ring is checked against the frame or block before use.
 * Some frames are not handed on, only counted:
 *   - ownFrames: frames this host sends out of the interface (PACKET_OUTGOING). The kernel
 *     never loops a packet socket's own frames back to it, but an ETH_P_ALL socket sees
 *     every other outgoing frame (the kernel's, another process's): output, never input.
 *     With ignoreOutgoing (the packet link's default) the socket has PACKET_IGNORE_OUTGOING
 *     (Linux 4.20): dev_queue_xmit_nit() skips it, so no outgoing frame is cloned for it
 *     at all and this count stays 0. A kernel that refuses the option leaves the socket
 *     seeing them (handle.outgoingFallback names the call and errno), and they are counted
 *     here as before;
 *   - truncated: frames longer than a receive slot (or that do not fit where the ring says);
 *   - vlanTagged: 802.1Q frames. The kernel strips the tag (in hardware or in
 *     __netif_receive_skb_core) before packet sockets see the frame, and reports it only in
 *     the ring's frame header or PACKET_AUXDATA: without that check, a trunk port's every
 *     VLAN would look native.
 * libuv polls level-triggered, so a backlog larger than one batch fires again on the next
 * loop iteration, which keeps the rest of the event loop served under load.
 *
 * Portability: 32- and 64-bit Linux alike (the Pi's armv7 and arm64): the ring's headers
 * are fixed-size kernel UAPI structs (tpacket_hdr_v1 aligns its u64), block sizes are
 * whole pages, and offsets are size_t arithmetic checked before each access.
 *
 * Segmentation offload (packet only, enableSegmentOffload): a second AF_PACKET socket for
 * transmit only (protocol 0: it receives nothing, so the receive ring and its socket are
 * untouched), with PACKET_VNET_HDR: each frame goes out behind a struct virtio_net_hdr,
 * zero for an ordinary frame; a frame whose segmentSizes entry is > 0 is a TCP/IPv4
 * super-frame (VIRTIO_NET_HDR_GSO_TCPV4, gso_size = the entry, NEEDS_CSUM from the TCP
 * header on: its checksum field holds the pseudo-header sum), which the kernel cuts in
 * software (validate_xmit_skb: GSO runs whether or not the device has TSO) and
 * checksums, as gVisor's fdbased endpoint has it done. Every frame of the link goes
 * through that socket from then on, so frames keep their order. The kernel loops a
 * socket's frames back to every other ETH_P_ALL socket (PACKET_OUTGOING), so ours would
 * return to the receive socket: one skb clone per frame (per GSO segment) only to be
 * thrown away, 0.2-0.3 us of system time per frame here (bench/BASELINE.md, "Outgoing
 * frames no longer reach the receive socket"). A receive socket
 * with PACKET_IGNORE_OUTGOING is never offered them. Without it (refused), the transmit
 * socket's frames carry the socket mark TX_MARK and the receive socket gets a filter that
 * drops frames with that mark before they are copied (the clone is still made).
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>

#include <node_api.h>
#include <uv.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* Linux 4.20; older headers lack the name */
#endif

#define MAX_BATCH 1024
/* Reads per readable wakeup while each read comes back full (on_readable): what waited in
   the socket is answered as one receive batch, up to this many batch sizes. */
#define MAX_READS_PER_WAKEUP 8
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
/* recvmsg mode: the largest frame a read must have room for, a whole IPv4 packet (GRO
   merges up to 64 KiB; the kernel strips any VLAN tag first), and an arena of four: a read
   only starts with that much room, so the kernel never has to cut a frame (256 KiB). */
#define RECVMSG_MAX_FRAME (65535 + ETH_HLEN)
#define RECVMSG_ARENA_BYTES (4 * RECVMSG_MAX_FRAME)
/* Room for one PACKET_AUXDATA control message per received frame. */
#define CONTROL_SPACE CMSG_SPACE(sizeof(struct tpacket_auxdata))
/* The PACKET_MMAP receive ring, in blocks of 128 KiB (order-5 allocations; the kernel falls
   back to vmalloc when those are short). Unlike a socket buffer, which takes memory only
   while frames wait, the ring is mapped whole from the start and all of it counts in the
   process's RSS (the kernel inserts its pages at mmap: /proc/PID/smaps shows the
   `socket:[...]` mapping fully resident), so it is sized for what arrives between two
   turns of the event loop rather than for the worst stall. 512 KiB (bench/BASELINE.md,
   "The ring is 512 KiB"): a sender's whole window can land during one stall, so the ring
   holds one window of the largest default buffer (the diag services' 256 KiB: ~180
   segments at MTU 1500, ~500 at MTU 576; 512 KiB holds 324 and 728 frames, and bulk
   dropped none), where 256 KiB (162 / 364) dropped 800 and 6,000-7,000 frames per 32 MiB
   into the device. The size is fixed, not derived from services.diagBuffer. 1 MiB costs
   0.5 MB more idle RSS for no fewer drops under bulk. 200 connections opened at once overflow
   256 and 512 KiB at MTU 1500 (1 MiB now and then), and every connection completes (the
   SYN cookies bind the peer's exact ISN, so a lost final ACK costs a retransmission,
   not the connection). A frame the ring cannot take is counted
   (`link.drop.rx-overflow`). Builds may override the size (-DRING_BYTES=...). */
#ifndef RING_BYTES
#define RING_BYTES (512 * 1024)
#endif
/* TPACKET_V3 hands over whole blocks, and its timer closes a block after 1 ms however
   little it holds: a burst spread over a few ms fills a block per ms, so V3 (opt-in, for
   throughput) keeps 8 blocks of 128 KiB, or 2 ms of partly filled blocks would fill it. */
#ifndef RING_V3_BYTES
#define RING_V3_BYTES (1024 * 1024)
#endif
#define RING_BLOCK_BYTES (128 * 1024)
/* TPACKET_V3 hands a block over when it is full or when this many ms have passed since it
   was opened: 1 is the least the kernel takes, and still the latency floor of the mode. */
#define RING_V3_BLOCK_TIMEOUT_MS 1

typedef enum { LINK_PACKET, LINK_TAP } link_kind;

/* How a link receives: recvmmsg into slots (packet), read() into an arena (tap), or a
   PACKET_MMAP ring the kernel writes into, TPACKET_V2 (frame by frame) or V3 (in blocks). */
typedef enum { RECEIVE_RECVMMSG, RECEIVE_READ, RECEIVE_RING_V2, RECEIVE_RING_V3, RECEIVE_RECVMSG } receive_mode;

static const char *receive_mode_name(receive_mode mode) {
  switch (mode) {
    case RECEIVE_RING_V2: return "tpacket-v2";
    case RECEIVE_RING_V3: return "tpacket-v3";
    case RECEIVE_READ: return "read";
    case RECEIVE_RECVMSG: return "recvmsg";
    default: return "recvmmsg";
  }
}

/* A PACKET_MMAP receive ring as mapped: block_count blocks of block_size bytes; V2 cuts each
   block into frames_per_block frames of frame_size bytes. `next` is the next frame (V2) or
   block (V3) to read, in ring order. */
typedef struct {
  uint8_t *base;
  size_t size;
  size_t block_size;
  size_t frame_size;
  unsigned block_count;
  unsigned frames_per_block;
  unsigned frame_count;
  unsigned next;
} ring_t;

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
  receive_mode mode;
  unsigned batch_size;
  size_t slot_size;  /* packet: the longest frame kept (longer ones are counted as truncated) */
  /* The receive memory, shared with JS as one ArrayBuffer (`memory_ref`): the recvmmsg
     slots or the tap arena (an ArrayBuffer JS allocated, `arena`), or the mmapped ring (an
     external ArrayBuffer over `ring`). Frames handed to JS are views into it, valid only
     during the onFrames call. */
  size_t arena_size;
  uint8_t *arena;
  ring_t ring;
  napi_ref memory_ref;
  /* Set when the ArrayBuffer could not be detached at close: JS may still reach the memory,
     so it is left allocated (a leak, never a use after free). */
  bool memory_pinned;
  struct mmsghdr *messages;      /* recvmmsg: batch_size receive headers, reused (recvmsg: one) */
  struct iovec *vectors;         /* recvmmsg: receive vectors */
  struct sockaddr_ll *addresses; /* recvmmsg: where the kernel reports sll_pkttype */
  uint8_t *controls;             /* recvmmsg: PACKET_AUXDATA control messages, one per slot */
  /* The frame table JS reads each batch from: table_capacity offsets (into the receive
     memory), then table_capacity lengths; a JS-owned ArrayBuffer held by `table_ref`. */
  unsigned table_capacity;
  uint32_t *frame_offset;
  uint32_t *frame_length;
  napi_ref table_ref;
  /* Why a requested ring is not in use (the call and errno), empty when it is. */
  char ring_fallback[96];
  /* Why PACKET_IGNORE_OUTGOING was asked for and is not on, empty otherwise. */
  char outgoing_fallback[96];
  /* The receive socket has PACKET_IGNORE_OUTGOING: the kernel offers it no outgoing frame. */
  bool ignores_outgoing;
  int ifindex;
  /* The transmit-only PACKET_VNET_HDR socket of segmentation offload, or -1. */
  int tx_fd;
  /* Receive coalescing (packet links, `coalesce` at open): runs of a flow's in-order
     segments in a batch merged into one frame in `merge` (a JS ArrayBuffer of
     MERGE_MEMORY_BYTES, `merge_ref`, handle.mergeMemory), as GRO would have. */
  bool coalesce;
  uint8_t *merge;
  napi_ref merge_ref;
  char name[IFNAMSIZ];
} link_t;

typedef struct {
  unsigned count;
  unsigned own_frames;
  unsigned truncated;
  unsigned vlan_tagged;
  unsigned merged; /* frames among `count` merged from several segments (by the kernel's GRO/LRO or coalesce_batch) */
  unsigned coalesced; /* frames coalesce_batch merged into the frame before them (no longer in `count`) */
  int error; /* errno of a failed receive call, 0 if none */
  /* Ring slots this batch holds, handed back to the kernel once JS has returned:
     V2 frames from ring.next on, or (V3) the block at ring.next. */
  unsigned ring_frames;
  bool ring_block;
  /* The read stopped at its limit (batch_size frames, a full arena, one V3 block), not
     because nothing more was waiting: another read may find more. */
  bool filled;
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
    case ENOPROTOOPT: return "ENOPROTOOPT";
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

/* Unmaps a receive ring (and with it the last hold on its socket). */
static void unmap_ring(ring_t *ring) {
  if (ring->base != NULL) munmap(ring->base, ring->size);
  ring->base = NULL;
  ring->size = 0;
}

static void free_link_memory(link_t *link) {
  /* The arena belongs to its (JS) ArrayBuffer; the ring is ours to unmap. */
  if (!link->memory_pinned) unmap_ring(&link->ring);
  free(link->messages);
  free(link->vectors);
  free(link->addresses);
  free(link->controls);
  link->arena = NULL;
  link->ring.base = NULL;
  link->messages = NULL;
  link->vectors = NULL;
  link->addresses = NULL;
  link->controls = NULL;
}

/* Takes the receive memory away from JS before it is freed: detached, the ArrayBuffer and
   every view of it read as empty, so a view kept against the contract cannot reach freed or
   unmapped memory. If that fails the memory stays allocated (memory_pinned). `env_alive` is
   false in the environment's cleanup hook, when no JS can run any more. */
/* Detaches the ArrayBuffer `ref` holds (when JS can still run) and drops the reference;
   returns whether it was detached. */
static bool detach_js_buffer(napi_env env, napi_ref *ref, bool env_alive) {
  bool detached = false;
  if (env_alive) {
    napi_handle_scope scope;
    napi_value buffer;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      detached = napi_get_reference_value(env, *ref, &buffer) == napi_ok && buffer != NULL &&
                 napi_detach_arraybuffer(env, buffer) == napi_ok;
      napi_close_handle_scope(env, scope);
    }
  }
  napi_delete_reference(env, *ref);
  *ref = NULL;
  return detached;
}

static void release_js_memory(link_t *link, bool env_alive) {
  napi_env env = link->env;
  if (link->memory_ref != NULL && !detach_js_buffer(env, &link->memory_ref, env_alive) && env_alive)
    link->memory_pinned = true;
  /* JS owns the merge memory: detached, a view kept against the contract reads as empty;
     if that fails the ArrayBuffer keeps it, and it is never written again (no pin). */
  if (link->merge_ref != NULL) detach_js_buffer(env, &link->merge_ref, env_alive);
  link->merge = NULL;
  link->coalesce = false;
  if (link->table_ref != NULL) napi_delete_reference(env, link->table_ref);
  link->table_ref = NULL;
  link->frame_offset = NULL;
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

/* Stops receiving and releases the descriptor and JS references. Idempotent. A ring stays
   mapped (holding the socket open, but no longer polled) until the poll handle has closed. */
static void link_shutdown(link_t *link, bool remove_hook, bool env_alive) {
  if (link->closed) return;
  link->closed = true;
  release_js_memory(link, env_alive);
  /* uv_close stops the poll and takes the descriptor out of epoll right away, so the
     descriptor must still be open here: closed first, its number could already belong to
     another file when libuv deregisters it. */
  uv_close((uv_handle_t *)&link->poll, on_poll_closed);
  close(link->fd);
  link->fd = -1;
  if (link->tx_fd >= 0) close(link->tx_fd);
  link->tx_fd = -1;
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
  link_shutdown(data, false, false);
}

static void finalize_link(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  link_t *link = data;
  link->finalized = true;
  link_shutdown(link, true, true);
  if (link->poll_closed) free(link);
}

/* ---------- receiving ---------- */

/* The frame's tp_status from PACKET_AUXDATA (0 without one), and whether the kernel took
   an 802.1Q tag off it. */
static uint32_t auxiliary_status(struct msghdr *header, bool *vlan) {
  *vlan = false;
  for (struct cmsghdr *control = CMSG_FIRSTHDR(header); control != NULL; control = CMSG_NXTHDR(header, control)) {
    if (control->cmsg_level != SOL_PACKET || control->cmsg_type != PACKET_AUXDATA) continue;
    struct tpacket_auxdata auxiliary;
    memcpy(&auxiliary, CMSG_DATA(control), sizeof auxiliary);
    /* Kernels before 3.0 set no VALID bit and report a non-zero TCI only. */
    *vlan = (auxiliary.tp_status & TP_STATUS_VLAN_VALID) != 0 || auxiliary.tp_vlan_tci != 0;
    return auxiliary.tp_status;
  }
  return 0;
}

/* Whether this frame may be handed to JS, or which counter it goes to instead. */
typedef enum { FRAME_KEEP, FRAME_OWN, FRAME_TRUNCATED, FRAME_VLAN } frame_verdict;

/* Bit 31 of a frame's length in the frame table: the addon verified the frame's TCP
   checksum (receive checksum offload, as a NIC's that sets CHECKSUM_UNNECESSARY), so the
   stack need not sum the segment again. Lengths are far below 2^31. */
#define FRAME_TCP_CHECKSUM_GOOD 0x80000000u
/* Bit 30: the frame is in the merge memory (handle.mergeMemory), not the receive memory. */
#define FRAME_IN_MERGE_MEMORY 0x40000000u
#define FRAME_LENGTH_BITS 0x3fffffffu
/* Receive coalescing's output per batch: merged frames are built here, back to back; a run
   that would not fit ends where it is. 256 KiB holds any batch's data (a V2 batch of 64
   frames at MTU 1500 is 97 KiB, a V3 block 128 KiB); pages never written stay out of RSS. */
#define MERGE_MEMORY_BYTES (256 * 1024)

/* The ones' complement sum of `length` bytes in native byte order, 32 bits at a time into
   64-bit accumulators (RFC 1071 §2 (B): the sum is independent of byte order, the fold
   only has to be taken in the same order for every part); an odd last byte is padded with
   a zero, as the checksum's definition pads it. The main loop takes 32 bytes a step as
   four 64-bit loads, each split into its two 32-bit halves, into four independent
   accumulators (RFC 1071 §4.1's deferred carries; four chains instead of one let the
   core add them in parallel): 2.4-2.7x faster than one 32-bit word a step on a warm
   1,480-byte segment. A 65,535-byte IP datagram adds under 2^44 to any accumulator. */
static uint64_t sum_native(const uint8_t *bytes, size_t length, uint64_t sum) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  while (length >= 32) {
    uint64_t w0, w1, w2, w3;
    memcpy(&w0, bytes, 8);
    memcpy(&w1, bytes + 8, 8);
    memcpy(&w2, bytes + 16, 8);
    memcpy(&w3, bytes + 24, 8);
    a += (w0 & 0xffffffffu) + (w0 >> 32);
    b += (w1 & 0xffffffffu) + (w1 >> 32);
    c += (w2 & 0xffffffffu) + (w2 >> 32);
    d += (w3 & 0xffffffffu) + (w3 >> 32);
    bytes += 32;
    length -= 32;
  }
  sum += a + b + c + d;
  while (length >= 4) {
    uint32_t word;
    memcpy(&word, bytes, 4);
    sum += word;
    bytes += 4;
    length -= 4;
  }
  uint8_t tail[4] = {0, 0, 0, 0};
  memcpy(tail, bytes, length);
  uint32_t word;
  memcpy(&word, tail, 4);
  return sum + word;
}

#ifndef TP_STATUS_CSUM_VALID
#define TP_STATUS_CSUM_VALID (1 << 7) /* Linux 3.16 */
#endif
#ifndef TP_STATUS_GSO_TCP
#define TP_STATUS_GSO_TCP (1 << 8) /* Linux 5.1: a GRO/LRO-merged (or GSO) TCP frame */
#endif

/* An unfragmented IPv4 packet in an Ethernet frame, as the receive path reads it. */
typedef struct {
  uint8_t *ip;
  unsigned header_length; /* IHL·4, options included */
  unsigned total_length;  /* the IPv4 total length (the frame may carry Ethernet padding) */
  unsigned protocol;
} ipv4_view;

/* Whether `frame` carries an IPv4 packet the receive path may read past its header: EtherType
   IPv4, version 4, IHL ≥ 5, a total length that covers the header and lies within the frame,
   and neither MF nor a fragment offset (DF may be set). Fills `view` when it does. One
   reader for the checksum check, the completion of a partial checksum and coalescing. */
static bool read_ipv4(uint8_t *frame, uint32_t length, ipv4_view *view) {
  enum { ETHERNET = 14 };
  if (length < ETHERNET + 20 || frame[12] != 0x08 || frame[13] != 0x00) return false;
  uint8_t *ip = frame + ETHERNET;
  unsigned header_length = (unsigned)(ip[0] & 0x0f) * 4;
  unsigned total_length = ((unsigned)ip[2] << 8) | ip[3];
  if ((ip[0] >> 4) != 4 || header_length < 20 || total_length < header_length || total_length > length - ETHERNET ||
      (((ip[6] << 8) | ip[7]) & 0x3fff) != 0)
    return false;
  view->ip = ip;
  view->header_length = header_length;
  view->total_length = total_length;
  view->protocol = ip[9];
  return true;
}

/* Whether the IPv4 packet `packet` carries a TCP segment whose checksum over the
   pseudo-header and the segment is right (RFC 9293 §3.1). The kernel's
   `status` (the ring header's or PACKET_AUXDATA's tp_status, 0 when there is none) may
   vouch for it: TP_STATUS_CSUMNOTREADY, a partial checksum (the field holds only the
   pseudo-header sum), is how a GRO-merged frame arrives, its segments verified before
   they were merged (tcp4_gro_receive), or a frame built on this host; TP_STATUS_CSUM_VALID,
   verified by the NIC or the kernel. Anything else, a bad checksum included, is left to
   the stack to check and count. (count_frame completes a partial one first.) */
static bool tcp_checksum_good(const ipv4_view *packet, uint32_t status) {
  const uint8_t *ip = packet->ip;
  unsigned header_length = packet->header_length;
  unsigned total_length = packet->total_length;
  if (packet->protocol != 6 || total_length < header_length + 20) return false;
  if ((status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)) != 0) return true;
  uint16_t protocol = htons(6);
  uint16_t tcp_length = htons((uint16_t)(total_length - header_length));
  uint64_t sum = sum_native(ip + 12, 8, (uint64_t)protocol + tcp_length); /* source, destination */
  sum = sum_native(ip + header_length, total_length - header_length, sum);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

/* A partial checksum (TP_STATUS_CSUMNOTREADY) completed in place, as skb_checksum_help
   does before such a frame leaves on a wire: the field holds the folded pseudo-header sum
   (tcp_gro_complete, __tcp_v4_send_check, udp4_hwcsum), so the segment's sum with it,
   folded and complemented, is the checksum. Only unfragmented TCP and UDP over IPv4 carry
   one. The frame is then right for every reader: a capture, a wrapper link that drops the
   checksum mark and leaves the check to the stack, UDP, which has no mark. */
static void complete_partial_checksum(const ipv4_view *packet) {
  unsigned protocol = packet->protocol;
  unsigned field = protocol == 6 ? 16 : protocol == 17 ? 6 : 0;
  if (field == 0 || packet->total_length < packet->header_length + field + 2) return;
  uint8_t *segment = packet->ip + packet->header_length;
  uint64_t sum = sum_native(segment, packet->total_length - packet->header_length, 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t checksum = (uint16_t)~sum;
  if (protocol == 17 && checksum == 0) checksum = 0xffff; /* RFC 768: 0 means "none" */
  memcpy(segment + field, &checksum, sizeof checksum);
}

static void count_frame(link_t *link, batch_t *batch, frame_verdict verdict, size_t offset, uint32_t length,
                        uint8_t *frame, uint32_t status) {
  switch (verdict) {
    case FRAME_OWN: batch->own_frames++; return;
    case FRAME_TRUNCATED: batch->truncated++; return;
    case FRAME_VLAN: batch->vlan_tagged++; return;
    case FRAME_KEEP: break;
  }
  if (batch->count >= link->table_capacity) {
    /* Cannot happen with the capacities chosen at open; counted rather than overrun. */
    batch->truncated++;
    return;
  }
  link->frame_offset[batch->count] = (uint32_t)offset;
  ipv4_view packet;
  bool good = false;
  if (read_ipv4(frame, length, &packet)) {
    if ((status & TP_STATUS_CSUMNOTREADY) != 0) complete_partial_checksum(&packet);
    good = tcp_checksum_good(&packet, status);
  }
  link->frame_length[batch->count] = length | (good ? FRAME_TCP_CHECKSUM_GOOD : 0);
  if ((status & TP_STATUS_GSO_TCP) != 0) batch->merged++;
  batch->count++;
}

/* ---------- receive coalescing ---------- */

/* A TCP/IPv4 segment as coalescing reads it; `mergeable` only when it may start or join a
   run (tcp_gro_receive's rules, kept strict): checksum verified, IPv4 without options or
   fragmentation, TCP with ACK and at most PSH besides, and payload. */
typedef struct {
  uint8_t *ip;
  unsigned ip_length;     /* the IPv4 total length (the frame may carry Ethernet padding) */
  unsigned tcp_header;    /* TCP header bytes, options included */
  unsigned payload;
  uint32_t seq;
  bool push;
} segment_view;

static uint32_t read_be32(const uint8_t *bytes) {
  return ((uint32_t)bytes[0] << 24) | ((uint32_t)bytes[1] << 16) | ((uint32_t)bytes[2] << 8) | bytes[3];
}

static bool mergeable_segment(uint8_t *frame, uint32_t length, uint32_t tagged, segment_view *view) {
  enum { ACK = 0x10, PSH = 0x08 };
  ipv4_view packet;
  /* Unfragmented IPv4 without options (IHL 5), TCP, at least its fixed header within the packet. */
  if ((tagged & FRAME_TCP_CHECKSUM_GOOD) == 0 || !read_ipv4(frame, length, &packet) || packet.header_length != 20 ||
      packet.protocol != 6 || packet.total_length < 40)
    return false;
  uint8_t *ip = packet.ip;
  unsigned total_length = packet.total_length;
  uint8_t *tcp = ip + 20;
  unsigned header = (unsigned)(tcp[12] >> 4) * 4;
  if (header < 20 || total_length < 20 + header + 1) return false;
  unsigned flags = tcp[13];
  if ((flags & ~(unsigned)PSH) != ACK) return false; /* no SYN, FIN, RST, URG, ECE, CWR */
  view->ip = ip;
  view->ip_length = total_length;
  view->tcp_header = header;
  view->payload = total_length - 20 - header;
  view->seq = read_be32(tcp + 4);
  view->push = (flags & PSH) != 0;
  return true;
}

/* Whether `next` continues the run that `first` starts, `expected` being the sequence
   number after the run so far: the same flow, TOS, TTL and DF, the same ACK, window and
   options (timestamps included: segments with different TSvals stay apart, as in GRO),
   and no longer than the run's first segment (its MSS). */
static bool continues_run(const segment_view *first, const segment_view *next, uint32_t expected) {
  const uint8_t *a = first->ip, *b = next->ip;
  if (next->seq != expected || next->payload > first->payload || next->tcp_header != first->tcp_header) return false;
  if (a[1] != b[1] || a[8] != b[8] || ((a[6] ^ b[6]) & 0x40) != 0) return false; /* TOS (and ECN), TTL, DF */
  if (memcmp(a + 12, b + 12, 8) != 0 || memcmp(a + 20, b + 20, 4) != 0) return false; /* addresses, ports */
  const uint8_t *ta = a + 20, *tb = b + 20;
  /* ACK number (8..11), window (14..15), then the options; flags were checked (PSH may differ). */
  return memcmp(ta + 8, tb + 8, 4) == 0 && memcmp(ta + 14, tb + 14, 2) == 0 &&
         memcmp(ta + 20, tb + 20, first->tcp_header - 20) == 0;
}

static uint16_t fold_complement(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* Builds the run frames[from, to) as one frame at `out` (the first frame's Ethernet, IPv4
   and TCP headers, then every payload in order), with its IPv4 total length, header
   checksum, PSH (if any segment had it) and TCP checksum made right. Returns its length. */
static size_t build_merged_frame(uint8_t *out, uint8_t *base, const link_t *link, unsigned from, unsigned to,
                                 const segment_view *first, unsigned ip_length, bool push) {
  enum { ETHERNET = 14 };
  size_t head = ETHERNET + 20 + first->tcp_header;
  memcpy(out, base + link->frame_offset[from], head + first->payload);
  size_t used = head + first->payload;
  for (unsigned k = from + 1; k < to; k++) {
    uint8_t *frame = base + link->frame_offset[k];
    unsigned payload = (((unsigned)frame[ETHERNET + 2] << 8) | frame[ETHERNET + 3]) - 20 - first->tcp_header;
    memcpy(out + used, frame + head, payload);
    used += payload;
  }
  uint8_t *ip = out + ETHERNET;
  ip[2] = (uint8_t)(ip_length >> 8);
  ip[3] = (uint8_t)ip_length;
  ip[10] = ip[11] = 0;
  uint16_t ip_checksum = fold_complement(sum_native(ip, 20, 0));
  memcpy(ip + 10, &ip_checksum, 2);
  uint8_t *tcp = ip + 20;
  if (push) tcp[13] |= 0x08;
  tcp[16] = tcp[17] = 0;
  unsigned tcp_length = ip_length - 20;
  uint64_t sum = sum_native(ip + 12, 8, (uint64_t)htons(6) + htons((uint16_t)tcp_length));
  uint16_t tcp_checksum = fold_complement(sum_native(tcp, tcp_length, sum));
  memcpy(tcp + 16, &tcp_checksum, 2);
  return used;
}

/* Receive coalescing, GRO in the link (Linux's tcp_gro_receive and DPDK's gro_tcp4 do the
   same in the kernel and in a user-space driver): each run of consecutive frames of the
   batch that continue one flow in order (continues_run) becomes one frame of up to 64 KiB
   in the merge memory, so the stack handles one segment where the wire carried many. A
   run ends at a segment shorter than its first (and takes it), at one with PSH (taken
   too), at anything else, and where the merge memory or the IPv4 length would overflow.
   Only frames whose checksums were verified are merged, and the merged frame's checksums
   are computed afresh, so it is right for every reader. The frame table is compacted in
   place; a frame that starts no run stays where it is. */
static void coalesce_batch(link_t *link, batch_t *batch) {
  uint8_t *base = link->ring.base != NULL ? link->ring.base : link->arena;
  size_t merge_used = 0;
  unsigned out = 0;
  for (unsigned i = 0; i < batch->count;) {
    uint32_t tagged = link->frame_length[i];
    uint8_t *frame = base + link->frame_offset[i];
    segment_view first;
    unsigned to = i + 1;
    unsigned ip_length = 0;
    bool push = false;
    if (mergeable_segment(frame, tagged & FRAME_LENGTH_BITS, tagged, &first) && !first.push) {
      uint32_t expected = first.seq + first.payload;
      ip_length = first.ip_length;
      size_t room = merge_used < MERGE_MEMORY_BYTES ? MERGE_MEMORY_BYTES - merge_used : 0;
      while (to < batch->count) {
        segment_view next;
        uint32_t next_tagged = link->frame_length[to];
        if (!mergeable_segment(base + link->frame_offset[to], next_tagged & FRAME_LENGTH_BITS, next_tagged, &next) ||
            !continues_run(&first, &next, expected) || ip_length + next.payload > 65535 ||
            14 + (size_t)ip_length + next.payload > room)
          break;
        ip_length += next.payload;
        expected += next.payload;
        to++;
        if (next.push) push = true;
        if (next.push || next.payload < first.payload) break;
      }
    }
    if (to == i + 1 || link->merge == NULL) {
      link->frame_offset[out] = link->frame_offset[i];
      link->frame_length[out] = tagged;
      out++;
      i++;
      continue;
    }
    size_t length = build_merged_frame(link->merge + merge_used, base, link, i, to, &first, ip_length, push);
    link->frame_offset[out] = (uint32_t)merge_used;
    link->frame_length[out] = (uint32_t)length | FRAME_TCP_CHECKSUM_GOOD | FRAME_IN_MERGE_MEMORY;
    merge_used += (length + 7) & ~(size_t)7;
    batch->merged++;
    batch->coalesced += to - i - 1;
    out++;
    i = to;
  }
  batch->count = out;
}

static void receive_recvmmsg_batch(link_t *link, batch_t *batch) {
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
    bool vlan;
    uint32_t status = auxiliary_status(&message->msg_hdr, &vlan);
    frame_verdict verdict = FRAME_KEEP;
    if (link->addresses[i].sll_pkttype == PACKET_OUTGOING) verdict = FRAME_OWN;
    else if (message->msg_hdr.msg_flags & MSG_TRUNC) verdict = FRAME_TRUNCATED;
    else if (vlan) verdict = FRAME_VLAN;
    count_frame(link, batch, verdict, (size_t)i * link->slot_size, message->msg_len, link->arena + (size_t)i * link->slot_size,
                status);
  }
  batch->filled = (unsigned)received == link->batch_size;
}

/* recvmsg mode: frames back to back into the arena, one system call each, while a whole
   IPv4 packet still fits; at most batch_size frames read (counted or kept) per wakeup. */
static void receive_recvmsg_batch(link_t *link, batch_t *batch) {
  struct msghdr *header = &link->messages[0].msg_hdr;
  size_t used = 0;
  batch->filled = true; /* unless a read finds nothing */
  for (unsigned read_count = 0; read_count < link->batch_size && link->arena_size - used >= RECVMSG_MAX_FRAME;) {
    link->vectors[0].iov_base = link->arena + used;
    link->vectors[0].iov_len = link->arena_size - used;
    header->msg_namelen = sizeof(struct sockaddr_ll);
    header->msg_controllen = CONTROL_SPACE;
    header->msg_flags = 0;
    ssize_t length = recvmsg(link->fd, header, MSG_DONTWAIT);
    if (length < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) batch->error = errno;
      batch->filled = false;
      return;
    }
    read_count++;
    bool vlan;
    uint32_t status = auxiliary_status(header, &vlan);
    frame_verdict verdict = FRAME_KEEP;
    if (link->addresses[0].sll_pkttype == PACKET_OUTGOING) verdict = FRAME_OWN;
    else if (header->msg_flags & MSG_TRUNC) verdict = FRAME_TRUNCATED;
    else if (vlan) verdict = FRAME_VLAN;
    unsigned kept = batch->count;
    count_frame(link, batch, verdict, used, (uint32_t)length, link->arena + used, status);
    if (batch->count > kept) used += (size_t)length; /* a frame not handed on leaves its room */
  }
}

/* Classifies one frame of the ring from its header fields, after checking that the kernel's
   offsets keep it inside `room` bytes from the header (its frame, or the rest of its block).
   The sockaddr_ll sits right after the aligned header in both versions (packet_mmap.rst). */
static frame_verdict classify_ring_frame(const link_t *link, const uint8_t *header, size_t header_size, size_t room,
                                         uint32_t status, uint32_t mac, uint32_t snaplen, uint32_t length,
                                         uint16_t vlan_tci) {
  size_t address_at = TPACKET_ALIGN(header_size);
  if (room < address_at + sizeof(struct sockaddr_ll) || mac < address_at + sizeof(struct sockaddr_ll) ||
      mac > room || snaplen > room - mac)
    return FRAME_TRUNCATED; /* a frame we cannot place is never handed on */
  const struct sockaddr_ll *address = (const struct sockaddr_ll *)(header + address_at);
  if (address->sll_pkttype == PACKET_OUTGOING) return FRAME_OWN;
  /* V3 only cuts frames at the block size: a frame over the slot is cut here, as recvmmsg's. */
  if (snaplen < length || length > link->slot_size) return FRAME_TRUNCATED;
  /* The kernel strips an 802.1Q tag before packet sockets see the frame; it reports it in
     the header (pre-3.0 kernels set no VALID bit, only a non-zero TCI). */
  if ((status & TP_STATUS_VLAN_VALID) != 0 || vlan_tci != 0) return FRAME_VLAN;
  return FRAME_KEEP;
}

static uint8_t *ring_v2_frame(const ring_t *ring, unsigned index) {
  return ring->base + (size_t)(index / ring->frames_per_block) * ring->block_size +
         (size_t)(index % ring->frames_per_block) * ring->frame_size;
}

/* TPACKET_V2: up to batch_size frames the kernel has marked TP_STATUS_USER, in ring order. */
static void receive_ring_v2_batch(link_t *link, batch_t *batch) {
  ring_t *ring = &link->ring;
  while (batch->ring_frames < link->batch_size && batch->ring_frames < ring->frame_count) {
    uint8_t *raw = ring_v2_frame(ring, (ring->next + batch->ring_frames) % ring->frame_count);
    struct tpacket2_hdr *header = (struct tpacket2_hdr *)raw;
    /* Acquire: the frame's bytes are read only after its status says they are ours. */
    uint32_t status = __atomic_load_n(&header->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) return;
    batch->ring_frames++;
    frame_verdict verdict = classify_ring_frame(link, raw, sizeof *header, ring->frame_size, status, header->tp_mac,
                                                header->tp_snaplen, header->tp_len, header->tp_vlan_tci);
    count_frame(link, batch, verdict, (size_t)(raw - ring->base) + header->tp_mac, header->tp_snaplen, raw + header->tp_mac,
                status);
  }
  batch->filled = true;
}

/* TPACKET_V3: every frame of the next retired block (the frame table holds a full block). */
static void receive_ring_v3_batch(link_t *link, batch_t *batch) {
  ring_t *ring = &link->ring;
  uint8_t *block = ring->base + (size_t)ring->next * ring->block_size;
  struct tpacket_block_desc *descriptor = (struct tpacket_block_desc *)block;
  uint32_t status = __atomic_load_n(&descriptor->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
  if ((status & TP_STATUS_USER) == 0) return;
  batch->ring_block = true;
  batch->filled = true; /* the next block may be retired too */
  uint32_t frames = descriptor->hdr.bh1.num_pkts;
  size_t offset = descriptor->hdr.bh1.offset_to_first_pkt;
  for (uint32_t i = 0; i < frames; i++) {
    if (offset < sizeof *descriptor || offset > ring->block_size - sizeof(struct tpacket3_hdr) ||
        offset % TPACKET_ALIGNMENT != 0) {
      batch->truncated += frames - i; /* the block's layout is not one we can walk */
      return;
    }
    uint8_t *raw = block + offset;
    struct tpacket3_hdr *header = (struct tpacket3_hdr *)raw;
    frame_verdict verdict =
        classify_ring_frame(link, raw, sizeof *header, ring->block_size - offset, header->tp_status, header->tp_mac,
                            header->tp_snaplen, header->tp_len, header->hv1.tp_vlan_tci);
    count_frame(link, batch, verdict, (size_t)(raw - ring->base) + header->tp_mac, header->tp_snaplen, raw + header->tp_mac,
                header->tp_status);
    uint32_t next = header->tp_next_offset;
    if (i + 1 < frames && (next == 0 || next > ring->block_size - offset)) {
      batch->truncated += frames - i - 1;
      return;
    }
    offset += next;
  }
}

/* Gives the ring slots of a delivered batch back to the kernel. Release: JS is done with
   the bytes before the kernel may write them again. */
static void release_ring_slots(link_t *link, const batch_t *batch) {
  ring_t *ring = &link->ring;
  if (link->mode == RECEIVE_RING_V2) {
    for (unsigned i = 0; i < batch->ring_frames; i++) {
      struct tpacket2_hdr *header = (struct tpacket2_hdr *)ring_v2_frame(ring, ring->next);
      __atomic_store_n(&header->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      ring->next = (ring->next + 1) % ring->frame_count;
    }
  } else if (link->mode == RECEIVE_RING_V3 && batch->ring_block) {
    struct tpacket_block_desc *descriptor = (struct tpacket_block_desc *)(ring->base + (size_t)ring->next * ring->block_size);
    __atomic_store_n(&descriptor->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    ring->next = (ring->next + 1) % ring->block_count;
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
    count_frame(link, batch, FRAME_KEEP, used, (uint32_t)length, link->arena + used, 0);
    used += (size_t)length;
  }
  batch->filled = true;
}

static void receive_batch(link_t *link, batch_t *batch) {
  switch (link->mode) {
    case RECEIVE_RING_V2: receive_ring_v2_batch(link, batch); break;
    case RECEIVE_RING_V3: receive_ring_v3_batch(link, batch); break;
    case RECEIVE_READ: receive_tap_batch(link, batch); break;
    case RECEIVE_RECVMMSG: receive_recvmmsg_batch(link, batch); break;
    case RECEIVE_RECVMSG: receive_recvmsg_batch(link, batch); break;
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

/* onFrames(count, ownFrames, truncated, vlanTagged, merged, coalesced, more): the frames are in
   the frame table; `more`: another read of this wakeup follows (its frames belong to the same
   receive batch). */
static void deliver_batch(link_t *link, const batch_t *batch, bool more) {
  napi_env env = link->env;
  napi_value argv[7];
  if (napi_create_uint32(env, batch->count, &argv[0]) != napi_ok ||
      napi_create_uint32(env, batch->own_frames, &argv[1]) != napi_ok ||
      napi_create_uint32(env, batch->truncated, &argv[2]) != napi_ok ||
      napi_create_uint32(env, batch->vlan_tagged, &argv[3]) != napi_ok ||
      napi_create_uint32(env, batch->merged, &argv[4]) != napi_ok ||
      napi_create_uint32(env, batch->coalesced, &argv[5]) != napi_ok || napi_get_boolean(env, more, &argv[6]) != napi_ok)
    return;
  call_into_js(link, link->on_frames, 7, argv);
}

static void deliver_error(link_t *link, const char *syscall, int error, bool fatal) {
  napi_env env = link->env;
  napi_value argv[2];
  argv[0] = make_errno_error(env, syscall, link->name, error);
  if (argv[0] == NULL || napi_get_boolean(env, fatal, &argv[1]) != napi_ok) return;
  call_into_js(link, link->on_error, 2, argv);
}

/* Counts a failed receive (or a socket error) and tells JS; stops polling when it is fatal.
   Runs only while the link is open. */
static void receive_failed(link_t *link, const char *syscall, int error, bool fatal) {
  uint64_t now = uv_now(link->poll.loop);
  if (now - link->last_error_at > ERROR_BURST_MS) link->consecutive_errors = 0;
  link->last_error_at = now;
  link->consecutive_errors++;
  /* A detached tap (its interface deleted under us) fails every read with EBADFD. */
  fatal = fatal || link->consecutive_errors >= MAX_CONSECUTIVE_ERRORS || error == EBADFD;
  if (fatal) uv_poll_stop(&link->poll);
  deliver_error(link, syscall, error, fatal);
  raise_pending_exception(link->env);
}

static bool batch_has_news(const batch_t *batch) {
  return batch->count > 0 || batch->own_frames > 0 || batch->truncated > 0 || batch->vlan_tagged > 0;
}

/* One readable wakeup: reads batches while each comes back full, up to
   MAX_READS_PER_WAKEUP, and delivers them as one receive batch (`more` on all but the
   last delivery; an empty last read still delivers, to end it). So what waited in the
   socket is answered at once: a sender that read only one batch per wakeup acted on ACKs
   a whole backlog old (its sends come back as ACKs while it sends: one batch read, the
   rest behind it), and resent segments their waiting ACKs had already covered. Each read's
   slots go back to the kernel as soon as JS has returned from it. */
static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  link_t *link = poll->data;
  if (link->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(link->env, &scope) != napi_ok) return;

  if (status == UV_EBADF) {
    /* libuv saw POLLERR: it has stopped the handle and reports EBADF, whatever the cause. */
    int error = ENODEV;
    bool fatal = false;
    if (link->kind == LINK_PACKET) {
      /* A packet socket raises POLLERR for a pending socket error: ENETDOWN when its
         interface goes down, ENODEV when it is deleted. Reading SO_ERROR clears it, and
         polling resumes, so frames flow again once the interface is back up. */
      int pending = 0;
      socklen_t length = sizeof pending;
      error = EBADF;
      if (getsockopt(link->fd, SOL_SOCKET, SO_ERROR, &pending, &length) == 0 && pending != 0) error = pending;
      int restart = uv_poll_start(&link->poll, UV_READABLE, on_readable);
      if (restart != 0) {
        error = -restart;
        fatal = true;
      }
    } else {
      /* tun raises POLLERR only once its interface is gone: nothing more can arrive. */
      fatal = true;
    }
    receive_failed(link, link->kind == LINK_PACKET ? "socket error" : "poll", error, fatal);
  } else if (status < 0) {
    receive_failed(link, "poll", -status, false); /* libuv reports negated errno values on Unix */
  } else {
    bool open = false; /* JS holds a receive batch open: the last delivery said `more` */
    for (unsigned read = 0; read < MAX_READS_PER_WAKEUP && !link->closed; read++) {
      batch_t batch = {0, 0, 0, 0, 0, 0, 0, 0, false, false};
      receive_batch(link, &batch);
      if (link->coalesce && batch.count > 1) coalesce_batch(link, &batch);
      bool more = batch.filled && batch.error == 0 && read + 1 < MAX_READS_PER_WAKEUP;
      if (batch_has_news(&batch)) link->consecutive_errors = 0;
      if (batch_has_news(&batch) || open) {
        deliver_batch(link, &batch, more);
        open = more;
      }
      /* JS has returned: nothing may keep a view of these frames (the Link contract), so their
         slots go back to the kernel, unless the receiver closed the link (the ring is gone). */
      if (!link->closed) release_ring_slots(link, &batch);
      raise_pending_exception(link->env);
      /* The receiver may have closed the link; after that nothing here may touch it but flags. */
      if (batch.error != 0 && !link->closed) receive_failed(link, receive_mode_name(link->mode), batch.error, false);
      if (!more) break;
    }
  }
  napi_close_handle_scope(link->env, scope);
}

/* ---------- opening ---------- */

/* The link struct and its recvmmsg headers; the receive memory comes with the JS handle. */
static link_t *allocate_link(link_kind kind, receive_mode mode, const char *name, unsigned batch_size, size_t slot_size) {
  link_t *link = calloc(1, sizeof *link);
  if (link == NULL) return NULL;
  link->kind = kind;
  link->mode = mode;
  link->fd = -1;
  link->tx_fd = -1;
  link->batch_size = batch_size;
  link->slot_size = slot_size;
  memcpy(link->name, name, strnlen(name, IFNAMSIZ - 1));
  link->arena_size = mode == RECEIVE_RECVMMSG ? (size_t)batch_size * slot_size
                     : mode == RECEIVE_READ    ? TAP_ARENA_BYTES
                     : mode == RECEIVE_RECVMSG ? RECVMSG_ARENA_BYTES
                                               : 0;
  link->table_capacity = batch_size;
  if (mode == RECEIVE_RECVMMSG || mode == RECEIVE_RECVMSG) {
    unsigned headers = mode == RECEIVE_RECVMSG ? 1 : batch_size;
    link->messages = calloc(headers, sizeof *link->messages);
    link->vectors = calloc(headers, sizeof *link->vectors);
    link->addresses = calloc(headers, sizeof *link->addresses);
    link->controls = calloc(headers, CONTROL_SPACE);
    if (link->messages == NULL || link->vectors == NULL || link->addresses == NULL || link->controls == NULL) {
      free_link_memory(link);
      free(link);
      return NULL;
    }
  }
  return link;
}

/* Gives the link its receive memory (`ring_memory`, the external ArrayBuffer over a mapped
   ring, or else a fresh arena) and its frame table, and shows both to JS on the handle:
   memory, frameOffsets, frameLengths. */
static bool attach_receive_memory(napi_env env, link_t *link, napi_value handle, napi_value ring_memory) {
  napi_value memory = ring_memory, table, offsets, lengths;
  void *arena = NULL, *table_data = NULL;
  if (memory == NULL) {
    if (napi_create_arraybuffer(env, link->arena_size, &arena, &memory) != napi_ok) return false;
    link->arena = arena;
  }
  if (napi_create_reference(env, memory, 1, &link->memory_ref) != napi_ok) return false;
  size_t table_bytes = (size_t)link->table_capacity * 2 * sizeof(uint32_t);
  if (napi_create_arraybuffer(env, table_bytes, &table_data, &table) != napi_ok ||
      napi_create_reference(env, table, 1, &link->table_ref) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, link->table_capacity, table, 0, &offsets) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, link->table_capacity, table,
                             (size_t)link->table_capacity * sizeof(uint32_t), &lengths) != napi_ok ||
      napi_set_named_property(env, handle, "memory", memory) != napi_ok ||
      napi_set_named_property(env, handle, "frameOffsets", offsets) != napi_ok ||
      napi_set_named_property(env, handle, "frameLengths", lengths) != napi_ok)
    return false;
  link->frame_offset = table_data;
  link->frame_length = (uint32_t *)table_data + link->table_capacity;
  if (link->coalesce) {
    napi_value merge;
    void *merge_data = NULL;
    if (napi_create_arraybuffer(env, MERGE_MEMORY_BYTES, &merge_data, &merge) != napi_ok ||
        napi_create_reference(env, merge, 1, &link->merge_ref) != napi_ok ||
        napi_set_named_property(env, handle, "mergeMemory", merge) != napi_ok)
      return false;
    link->merge = merge_data;
  }
  for (unsigned i = 0; link->mode == RECEIVE_RECVMSG && i < 1; i++) {
    /* recvmsg: iov_base and iov_len are set before each read (frames go back to back). */
    link->messages[i].msg_hdr.msg_iov = &link->vectors[i];
    link->messages[i].msg_hdr.msg_iovlen = 1;
    link->messages[i].msg_hdr.msg_name = &link->addresses[i];
    link->messages[i].msg_hdr.msg_control = link->controls;
  }
  for (unsigned i = 0; link->mode == RECEIVE_RECVMMSG && i < link->batch_size; i++) {
    link->vectors[i].iov_base = link->arena + (size_t)i * link->slot_size;
    link->vectors[i].iov_len = link->slot_size;
    link->messages[i].msg_hdr.msg_iov = &link->vectors[i];
    link->messages[i].msg_hdr.msg_iovlen = 1;
    link->messages[i].msg_hdr.msg_name = &link->addresses[i];
    link->messages[i].msg_hdr.msg_control = link->controls + (size_t)i * CONTROL_SPACE;
  }
  return true;
}

/* Wraps an opened descriptor in a JS handle and starts polling it. On failure the link
   and its descriptor are released and an exception is pending. */
static napi_value start_link(napi_env env, link_t *link, napi_value on_frames, napi_value on_error, int ifindex,
                             napi_value ring_memory) {
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
  link->ifindex = ifindex;
  /* From here the poll handle exists, so the link is released through link_shutdown. */
  if (napi_create_reference(env, on_frames, 1, &link->on_frames) != napi_ok ||
      napi_create_reference(env, on_error, 1, &link->on_error) != napi_ok ||
      napi_async_init(env, handle, resource_name, &link->async_context) != napi_ok) {
    throw_napi_failure(env, "link references");
    link->finalized = true; /* no JS owner: the close callback frees it */
    link_shutdown(link, false, true);
    return NULL;
  }
  /* Tagged before it is wrapped: once wrapped, the finalizer owns the struct, and a failure
     after that point would free it twice. */
  if (napi_type_tag_object(env, handle, &LINK_TYPE_TAG) != napi_ok ||
      napi_wrap(env, handle, link, finalize_link, NULL, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_wrap");
    link->finalized = true;
    link_shutdown(link, false, true);
    return NULL;
  }
  napi_add_env_cleanup_hook(env, cleanup_hook, link);
  if (!attach_receive_memory(env, link, handle, ring_memory)) {
    throw_napi_failure(env, "receive memory");
    link_shutdown(link, true, true); /* the handle's finalizer frees the struct later */
    return NULL;
  }
  if (napi_create_string_utf8(env, receive_mode_name(link->mode), NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, handle, "receiveMode", value);
  if (link->ring_fallback[0] != '\0' &&
      napi_create_string_utf8(env, link->ring_fallback, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, handle, "ringFallback", value);
  if (link->outgoing_fallback[0] != '\0' &&
      napi_create_string_utf8(env, link->outgoing_fallback, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, handle, "outgoingFallback", value);
  if (napi_create_string_utf8(env, link->name, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, handle, "name", value);
  if (napi_create_int32(env, ifindex, &value) == napi_ok) napi_set_named_property(env, handle, "ifindex", value);
  if ((uv_status = uv_poll_start(&link->poll, UV_READABLE, on_readable)) != 0) {
    throw_errno(env, "uv_poll_start", link->name, -uv_status);
    link_shutdown(link, true, true); /* the handle's finalizer frees the struct later */
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

/* Maps a PACKET_MMAP receive ring (TPACKET_V2 or V3) on a socket not yet bound, sized for
   frames of up to slot_size bytes. Returns 0, or the errno of the call named in *failed
   with the socket left as it was (no ring, TPACKET_V1). */
static int map_receive_ring(int fd, receive_mode mode, size_t slot_size, ring_t *ring, const char **failed) {
  int version = mode == RECEIVE_RING_V3 ? TPACKET_V3 : TPACKET_V2;
  size_t header_bytes = mode == RECEIVE_RING_V3 ? TPACKET3_HDRLEN : TPACKET2_HDRLEN;
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  memset(ring, 0, sizeof *ring);
  /* The kernel puts the network header at TPACKET_ALIGN(header + 16) and the MAC header
     ETH_HLEN before it (tpacket_rcv): this frame size holds a slot_size frame after that. */
  ring->frame_size = TPACKET_ALIGN(TPACKET_ALIGN(header_bytes + 16) + slot_size);
  /* Blocks are a power-of-two number of pages (one kernel allocation each). */
  ring->block_size = (size_t)page;
  while (ring->block_size < ring->frame_size || ring->block_size < RING_BLOCK_BYTES) ring->block_size *= 2;
  size_t ring_bytes = mode == RECEIVE_RING_V3 ? RING_V3_BYTES : RING_BYTES;
  ring->block_count = ring_bytes / ring->block_size < 2 ? 2 : (unsigned)(ring_bytes / ring->block_size);
  ring->frames_per_block = (unsigned)(ring->block_size / ring->frame_size);
  ring->frame_count = ring->frames_per_block * ring->block_count;
  ring->size = ring->block_size * ring->block_count;
  *failed = "setsockopt(PACKET_VERSION)";
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) return errno;
  int result;
  if (mode == RECEIVE_RING_V3) {
    struct tpacket_req3 request;
    memset(&request, 0, sizeof request);
    request.tp_block_size = (unsigned)ring->block_size;
    request.tp_block_nr = ring->block_count;
    request.tp_frame_size = (unsigned)ring->frame_size;
    request.tp_frame_nr = ring->frame_count;
    request.tp_retire_blk_tov = RING_V3_BLOCK_TIMEOUT_MS;
    result = setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &request, sizeof request);
  } else {
    struct tpacket_req request = {(unsigned)ring->block_size, ring->block_count, (unsigned)ring->frame_size,
                                  ring->frame_count};
    result = setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &request, sizeof request);
  }
  int error = 0;
  if (result < 0) {
    error = errno;
    *failed = "setsockopt(PACKET_RX_RING)";
  } else {
    void *base = mmap(NULL, ring->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base != MAP_FAILED) {
      ring->base = base;
      return 0;
    }
    error = errno;
    *failed = "mmap(PACKET_RX_RING)";
    /* A request with no blocks frees the kernel's ring. */
    struct tpacket_req3 none;
    memset(&none, 0, sizeof none);
    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &none, mode == RECEIVE_RING_V3 ? sizeof none : sizeof(struct tpacket_req));
  }
  version = TPACKET_V1;
  setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version);
  return error;
}

static void ring_memory_finalizer(napi_env env, void *data, void *hint) {
  /* The link unmaps the ring (after detaching this ArrayBuffer): nothing to free here. */
  (void)env;
  (void)data;
  (void)hint;
}

/* Reads the receive mode an openPacket caller asks for. */
static bool get_receive_mode(napi_env env, napi_value value, receive_mode *mode) {
  char text[16] = {0};
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, text, sizeof text, &length) == napi_ok) {
    if (strcmp(text, "tpacket-v3") == 0) *mode = RECEIVE_RING_V3;
    else if (strcmp(text, "tpacket-v2") == 0) *mode = RECEIVE_RING_V2;
    else if (strcmp(text, "recvmmsg") == 0) *mode = RECEIVE_RECVMMSG;
    else if (strcmp(text, "recvmsg") == 0) *mode = RECEIVE_RECVMSG;
    else length = 0;
  }
  if (length == 0) napi_throw_range_error(env, NULL, "piwire: receiveMode must be 'tpacket-v3', 'tpacket-v2', 'recvmmsg' or 'recvmsg'");
  return length != 0;
}

/* openPacket(ifname, slotSize, batchSize, promiscuous, ignoreOutgoing, receiveMode, onFrames, onError, coalesce?) */
static napi_value js_open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  char ifname[IFNAMSIZ] = {0};
  uint32_t slot_size, batch_size;
  bool promiscuous = false, ignore_outgoing = false;
  receive_mode mode = RECEIVE_RECVMMSG;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8) {
    napi_throw_type_error(env, NULL,
                          "piwire: openPacket(ifname, slotSize, batchSize, promiscuous, ignoreOutgoing, receiveMode, onFrames, onError)");
    return NULL;
  }
  if (!get_interface_name(env, argv[0], ifname) ||
      !get_uint32_in(env, argv[1], ETH_ZLEN, 65536 + 64, "slotSize", &slot_size) ||
      !get_uint32_in(env, argv[2], 1, MAX_BATCH, "batchSize", &batch_size) || !get_receive_mode(env, argv[5], &mode) ||
      !get_function(env, argv[6], "onFrames") || !get_function(env, argv[7], "onError"))
    return NULL;
  NAPI_CALL(env, napi_get_value_bool(env, argv[3], &promiscuous));
  NAPI_CALL(env, napi_get_value_bool(env, argv[4], &ignore_outgoing));
  bool coalesce = false;
  if (argc >= 9) NAPI_CALL(env, napi_get_value_bool(env, argv[8], &coalesce));

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
  const char *failed = "setsockopt(PACKET_AUXDATA)";
  ring_t ring;
  memset(&ring, 0, sizeof ring);
  napi_value ring_memory = NULL;
  char fallback[sizeof ((link_t *)NULL)->ring_fallback] = {0};
  char outgoing_fallback[sizeof ((link_t *)NULL)->outgoing_fallback] = {0};
  enlarge_socket_buffers(fd);
  int enable = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &enable, sizeof enable) < 0) goto fail;
  /* Before bind, so no outgoing frame is ever queued. Refused (a kernel before 4.20: EINVAL
     or ENOPROTOOPT): the socket keeps seeing them and the link drops and counts them;
     never silent (handle.outgoingFallback). */
  bool ignores_outgoing = false;
  if (ignore_outgoing) {
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &enable, sizeof enable) == 0) ignores_outgoing = true;
    else snprintf(outgoing_fallback, sizeof outgoing_fallback, "setsockopt(PACKET_IGNORE_OUTGOING): %s", errno_name(errno));
  }
  if (mode == RECEIVE_RING_V2 || mode == RECEIVE_RING_V3) {
    /* The ring goes in before bind, so no frame is queued the other way first. A ring the
       kernel or N-API refuses (no memory, a sandboxed runtime without external buffers)
       leaves the link on recvmmsg: slower, never silent (handle.ringFallback says why). */
    const char *ring_call = NULL;
    int ring_error = map_receive_ring(fd, mode, slot_size, &ring, &ring_call);
    if (ring_error == 0 &&
        napi_create_external_arraybuffer(env, ring.base, ring.size, ring_memory_finalizer, NULL, &ring_memory) != napi_ok) {
      ring_call = "napi_create_external_arraybuffer";
      ring_error = ENOTSUP;
      ring_memory = NULL;
      napi_value ignored;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
      unmap_ring(&ring);
      struct tpacket_req3 none;
      memset(&none, 0, sizeof none);
      setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &none, mode == RECEIVE_RING_V3 ? sizeof none : sizeof(struct tpacket_req));
      int version = TPACKET_V1;
      setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version);
    }
    if (ring_error != 0) {
      snprintf(fallback, sizeof fallback, "%s: %s", ring_call, errno_name(ring_error));
      mode = RECEIVE_RECVMMSG;
    }
  }
  struct sockaddr_ll address;
  memset(&address, 0, sizeof address);
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex;
  failed = "bind(AF_PACKET)";
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) goto fail;
  if (promiscuous) {
    /* A socket-scoped membership: the kernel drops it when the socket closes, so a crash
       never leaves the interface promiscuous (unlike setting IFF_PROMISC). */
    struct packet_mreq membership;
    memset(&membership, 0, sizeof membership);
    membership.mr_ifindex = ifindex;
    membership.mr_type = PACKET_MR_PROMISC;
    failed = "setsockopt(PACKET_MR_PROMISC)";
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) < 0) goto fail;
  }

  /* V3 hands over whole blocks: the frame table holds the most one block can carry (every
     ring frame takes at least TPACKET_ALIGNMENT bytes more than its header). */
  uint32_t batch = mode == RECEIVE_RING_V3 ? (uint32_t)(ring.block_size / (TPACKET3_HDRLEN + TPACKET_ALIGNMENT)) : batch_size;
  link_t *link = allocate_link(LINK_PACKET, mode, ifname, batch, slot_size);
  if (link == NULL) {
    failed = "openPacket";
    errno = ENOMEM;
    goto fail;
  }
  link->fd = fd;
  link->ring = ring;
  memcpy(link->ring_fallback, fallback, sizeof fallback);
  memcpy(link->outgoing_fallback, outgoing_fallback, sizeof outgoing_fallback);
  link->ignores_outgoing = ignores_outgoing;
  link->coalesce = coalesce;
  return start_link(env, link, argv[6], argv[7], ifindex, ring_memory);

fail:
  error = errno;
  unmap_ring(&ring);
  close(fd);
  throw_errno(env, failed, ifname, error);
  return NULL;
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

  link_t *link = allocate_link(LINK_TAP, RECEIVE_READ, name, batch_size, 0);
  if (link == NULL) {
    close(fd);
    throw_errno(env, "openTap", name, ENOMEM);
    return NULL;
  }
  link->fd = fd;
  return start_link(env, link, argv[2], argv[3], ifindex, NULL);
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
/* The bytes to send of each frame (send()'s frameLengths): entry i > 0 and within the view
   sends only that many bytes of frame i (one built in a transmit slot longer than it). */
typedef struct {
  const uint32_t *lengths;
  size_t count;
} frame_lengths_t;

static bool get_frame(napi_env env, napi_value frames, uint32_t index, const frame_lengths_t *lengths, struct iovec *vector) {
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
  if (index < lengths->count && lengths->lengths[index] > 0 && lengths->lengths[index] <= length) vector->iov_len = lengths->lengths[index];
  return true;
}

#define SEND_CHUNK 64

/* sendmmsg of one chunk of prepared messages until all went or an error stops it: a
   frame-specific error fails that frame and goes on; a full queue or a gone device drops
   the rest of the batch (`remaining` frames from the chunk's start), as retrying would
   busy-loop: returns false then. `header_bytes` of each message are not frame bytes (the
   virtio header). */
static bool send_messages(int fd, struct mmsghdr *messages, uint32_t chunk, uint32_t remaining, size_t header_bytes,
                          send_result_t *result) {
  uint32_t done = 0;
  while (done < chunk) {
    int sent = sendmmsg(fd, messages + done, chunk - done, MSG_DONTWAIT);
    if (sent > 0) {
      for (int i = 0; i < sent; i++) result->bytes += (double)(messages[done + (uint32_t)i].msg_len - header_bytes);
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
    uint32_t rest = remaining - done;
    if (queue_full_error(error)) result->full += rest;
    else result->failed += rest;
    return false;
  }
  return true;
}

/* sendmmsg in chunks of SEND_CHUNK; the socket is bound to the interface, so no address. */
static bool send_packet(napi_env env, link_t *link, napi_value frames, uint32_t count, const frame_lengths_t *lengths,
                        send_result_t *result) {
  struct mmsghdr messages[SEND_CHUNK];
  struct iovec vectors[SEND_CHUNK];
  for (uint32_t base = 0; base < count; base += SEND_CHUNK) {
    uint32_t chunk = count - base < SEND_CHUNK ? count - base : SEND_CHUNK;
    memset(messages, 0, sizeof messages);
    for (uint32_t i = 0; i < chunk; i++) {
      if (!get_frame(env, frames, base + i, lengths, &vectors[i])) return false;
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    if (!send_messages(link->fd, messages, chunk, count - base, 0, result)) return true;
  }
  return true;
}

/* The mark on the frames of the transmit-only socket: "pw" and 2 (the IP link's raw sockets
   mark theirs with 1). The receive socket's filter drops what carries it when the socket
   could not have PACKET_IGNORE_OUTGOING. */
#define TX_MARK 0x70770002u

/* The virtio header of a TCP/IPv4 super-frame, from its own headers: GSO_TCPV4 cut into
   pieces of segment_size payload bytes, the checksum from the TCP header on (csum_offset:
   the TCP checksum field, which holds the pseudo-header sum). Fields in host order (the
   packet socket's legacy virtio: vio_le() is the host's order). False for a frame that is
   no TCP/IPv4 one: it is then sent as an ordinary frame, which the kernel refuses as too
   long (EMSGSIZE: one failed frame). */
static bool super_frame_header(const uint8_t *frame, size_t length, uint16_t segment_size, struct virtio_net_hdr *header) {
  if (length < ETH_HLEN + 40 || frame[12] != 0x08 || frame[13] != 0x00) return false;
  const uint8_t *ip = frame + ETH_HLEN;
  size_t ip_header = (size_t)(ip[0] & 0x0f) * 4;
  if ((ip[0] >> 4) != 4 || ip_header < 20 || ip[9] != IPPROTO_TCP) return false;
  size_t tcp_start = ETH_HLEN + ip_header;
  if (tcp_start + 20 > length) return false;
  size_t tcp_header = (size_t)(frame[tcp_start + 12] >> 4) * 4;
  if (tcp_header < 20 || tcp_start + tcp_header > length) return false;
  memset(header, 0, sizeof *header);
  header->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  header->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  header->hdr_len = (uint16_t)(tcp_start + tcp_header);
  header->gso_size = segment_size;
  header->csum_start = (uint16_t)tcp_start;
  header->csum_offset = 16; /* offsetof(struct tcphdr, check) */
  return true;
}

/* send_packet through the PACKET_VNET_HDR socket: every frame behind a virtio header (zero
   for an ordinary frame, GSO for a super-frame: segment_sizes[i] > 0), addressed to the
   interface with the frame's own EtherType as the protocol (the socket's is 0). */
static bool send_packet_vnet(napi_env env, link_t *link, napi_value frames, uint32_t count, const uint16_t *segment_sizes,
                             const frame_lengths_t *lengths, send_result_t *result) {
  static const struct virtio_net_hdr ordinary;
  struct mmsghdr messages[SEND_CHUNK];
  struct iovec vectors[SEND_CHUNK][2];
  struct virtio_net_hdr headers[SEND_CHUNK];
  struct sockaddr_ll addresses[SEND_CHUNK];
  for (uint32_t base = 0; base < count; base += SEND_CHUNK) {
    uint32_t chunk = count - base < SEND_CHUNK ? count - base : SEND_CHUNK;
    memset(messages, 0, sizeof messages);
    memset(addresses, 0, sizeof addresses);
    for (uint32_t i = 0; i < chunk; i++) {
      struct iovec *frame = &vectors[i][1];
      if (!get_frame(env, frames, base + i, lengths, frame)) return false;
      const uint8_t *bytes = frame->iov_base;
      uint16_t segment_size = segment_sizes == NULL ? 0 : segment_sizes[base + i];
      vectors[i][0].iov_base = (void *)&ordinary;
      if (segment_size > 0 && super_frame_header(bytes, frame->iov_len, segment_size, &headers[i])) vectors[i][0].iov_base = &headers[i];
      vectors[i][0].iov_len = sizeof(struct virtio_net_hdr);
      addresses[i].sll_family = AF_PACKET;
      addresses[i].sll_ifindex = link->ifindex;
      if (frame->iov_len >= ETH_HLEN) memcpy(&addresses[i].sll_protocol, bytes + 12, 2);
      messages[i].msg_hdr.msg_name = &addresses[i];
      messages[i].msg_hdr.msg_namelen = sizeof addresses[i];
      messages[i].msg_hdr.msg_iov = vectors[i];
      messages[i].msg_hdr.msg_iovlen = 2;
    }
    if (!send_messages(link->tx_fd, messages, chunk, count - base, sizeof(struct virtio_net_hdr), result)) return true;
  }
  return true;
}

static bool send_tap(napi_env env, link_t *link, napi_value frames, uint32_t count, const frame_lengths_t *lengths,
                     send_result_t *result) {
  for (uint32_t i = 0; i < count; i++) {
    struct iovec vector;
    if (!get_frame(env, frames, i, lengths, &vector)) return false;
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

/* send(handle, frames, segmentSizes?, frameLengths?) -> the number sent when every frame went
   (the common case: no object to build per flush), else { sent, bytes, full, failed, error }
   (error: the errno name). frameLengths: a Uint32Array, see frame_lengths_t. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], output, value;
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
  /* The segment sizes of a link with segmentation offload: a Uint16Array, entry i for frame i. */
  const uint16_t *segment_sizes = NULL;
  if (argc >= 3 && link->tx_fd >= 0) {
    bool is_typed_array = false;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    NAPI_CALL(env, napi_is_typedarray(env, argv[2], &is_typed_array));
    if (is_typed_array) NAPI_CALL(env, napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL));
    if (!is_typed_array || type != napi_uint16_array || length < count) {
      napi_throw_type_error(env, NULL, "piwire: send()'s segment sizes are a Uint16Array with an entry per frame");
      return NULL;
    }
    segment_sizes = data;
  }
  frame_lengths_t lengths = {NULL, 0};
  if (argc >= 4) {
    bool is_typed_array = false;
    napi_valuetype kind;
    NAPI_CALL(env, napi_typeof(env, argv[3], &kind));
    if (kind != napi_undefined) {
      napi_typedarray_type type;
      void *data = NULL;
      NAPI_CALL(env, napi_is_typedarray(env, argv[3], &is_typed_array));
      if (is_typed_array) NAPI_CALL(env, napi_get_typedarray_info(env, argv[3], &type, &lengths.count, &data, NULL, NULL));
      if (!is_typed_array || type != napi_uint32_array) {
        napi_throw_type_error(env, NULL, "piwire: send()'s frame lengths are a Uint32Array");
        return NULL;
      }
      lengths.lengths = data;
    }
  }
  send_result_t result = {0, 0, 0, 0, 0};
  bool ok = link->kind != LINK_PACKET ? send_tap(env, link, argv[1], count, &lengths, &result)
            : link->tx_fd >= 0        ? send_packet_vnet(env, link, argv[1], count, segment_sizes, &lengths, &result)
                                      : send_packet(env, link, argv[1], count, &lengths, &result);
  if (!ok) return NULL;
  if (result.full == 0 && result.failed == 0) {
    NAPI_CALL(env, napi_create_uint32(env, result.sent, &output));
    return output;
  }
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

/* enableSegmentOffload(handle) -> undefined once on, else "<call>: <ERRNO>" (the link then
   sends as before). Packet links only; idempotent. See the header. */
static napi_value js_enable_segment_offload(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], output;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "piwire: enableSegmentOffload(handle)");
    return NULL;
  }
  link_t *link = get_link(env, argv[0]);
  if (link == NULL) return NULL;
  if (link->closed) {
    throw_errno(env, "enableSegmentOffload", link->name, EBADF);
    return NULL;
  }
  if (link->kind != LINK_PACKET) {
    napi_throw_type_error(env, NULL, "piwire: segmentation offload is for packet links");
    return NULL;
  }
  if (link->tx_fd >= 0) return NULL;
  const char *failed = "socket(AF_PACKET)";
  /* Protocol 0: bound, it still receives nothing (packet(7)). */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) goto fail;
  int enable = 1;
  failed = "setsockopt(PACKET_VNET_HDR)";
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &enable, sizeof enable) < 0) goto fail;
  unsigned mark = TX_MARK;
  failed = "setsockopt(SO_MARK)";
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) goto fail;
  struct sockaddr_ll address;
  memset(&address, 0, sizeof address);
  address.sll_family = AF_PACKET;
  address.sll_ifindex = link->ifindex;
  failed = "bind(AF_PACKET)";
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) goto fail;
  enlarge_socket_buffers(fd);
  if (link->ignores_outgoing) {
    link->tx_fd = fd;
    return NULL;
  }
  /* A receive socket that is offered outgoing frames drops ours (the mark) in the kernel,
     before any copy: ld mark; jeq TX_MARK ? drop : accept all. */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_MARK)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TX_MARK, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
  };
  struct sock_fprog program = {sizeof code / sizeof code[0], code};
  failed = "setsockopt(SO_ATTACH_FILTER)";
  if (setsockopt(link->fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) goto fail;
  link->tx_fd = fd;
  return NULL;

fail:;
  int error = errno;
  if (fd >= 0) close(fd);
  char message[96];
  snprintf(message, sizeof message, "%s: %s", failed, errno_name(error));
  NAPI_CALL(env, napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &output));
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
  link_shutdown(link, true, true);
  return NULL;
}

/* kernelStatistics(handle) -> { drops, freezes }, since the last call (reading resets the
   kernel's counters): `drops`, frames the kernel dropped for want of room (a full socket
   buffer, or a full ring: PACKET_STATISTICS tp_drops); `freezes`, how often a TPACKET_V3
   ring had every block waiting for us (tp_freeze_q_cnt; 0 in other modes). The link never
   saw those frames, so only the kernel can count them. Zeros for a tap (its drops are in
   the interface statistics) and for a closed link. */
static napi_value js_kernel_statistics(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, value;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "piwire: kernelStatistics(handle)");
    return NULL;
  }
  link_t *link = get_link(env, argv[0]);
  if (link == NULL) return NULL;
  struct tpacket_stats_v3 statistics;
  memset(&statistics, 0, sizeof statistics);
  if (!link->closed && link->kind == LINK_PACKET) {
    /* The kernel copies the V3 layout for a V3 socket and the shorter one otherwise. */
    socklen_t length = link->mode == RECEIVE_RING_V3 ? sizeof statistics : sizeof(struct tpacket_stats);
    if (getsockopt(link->fd, SOL_PACKET, PACKET_STATISTICS, &statistics, &length) < 0) {
      throw_errno(env, "getsockopt(PACKET_STATISTICS)", link->name, errno);
      return NULL;
    }
  }
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_uint32(env, statistics.tp_drops, &value));
  NAPI_CALL(env, napi_set_named_property(env, result, "drops", value));
  NAPI_CALL(env, napi_create_uint32(env, statistics.tp_freeze_q_cnt, &value));
  NAPI_CALL(env, napi_set_named_property(env, result, "freezes", value));
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

/* disableOffloads(ifname, keepGro): best effort, each feature reported as 'off' or the
   errno name. The stack computes and checks every checksum and sees every segment as sent
   on the wire: a NIC or the kernel merging segments (LRO) or leaving checksums to hardware
   would hand it frames no peer ever sent. GRO is the one kept when asked (`keepGro`,
   reported 'kept'): it merges only segments it has verified, into a frame that says so
   (TP_STATUS_GSO_TCP, a partial checksum), which the recvmsg mode takes whole. */
static napi_value js_disable_offloads(napi_env env, napi_callback_info info) {
  napi_value result, value;
  char ifname[IFNAMSIZ] = {0};
  size_t argc = 2;
  napi_value argv[2];
  bool keep_gro = false;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_interface_name(env, argv[0], ifname)) {
    if (argc < 1) napi_throw_type_error(env, NULL, "piwire: disableOffloads(ifname, keepGro)");
    return NULL;
  }
  if (argc >= 2) NAPI_CALL(env, napi_get_value_bool(env, argv[1], &keep_gro));
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
    if (keep_gro && features[i].get_command == ETHTOOL_GGRO) {
      NAPI_CALL(env, napi_create_string_utf8(env, "kept", NAPI_AUTO_LENGTH, &value));
      NAPI_CALL(env, napi_set_named_property(env, result, features[i].name, value));
      continue;
    }
    int error = ethtool_feature_off(ifname, features[i].get_command, features[i].set_command);
    NAPI_CALL(env, napi_create_string_utf8(env, error == 0 ? "off" : errno_name(error), NAPI_AUTO_LENGTH, &value));
    NAPI_CALL(env, napi_set_named_property(env, result, features[i].name, value));
  }
  int error = ethtool_lro_off(ifname);
  NAPI_CALL(env, napi_create_string_utf8(env, error == 0 ? "off" : errno_name(error), NAPI_AUTO_LENGTH, &value));
  NAPI_CALL(env, napi_set_named_property(env, result, "lro", value));
  return result;
}

/* mergesReceived(ifname): whether the kernel merges the interface's received segments
   (GRO or LRO active, as ETHTOOL_GGRO and the LRO flag read: a macvlan whose parent merges
   reads "on" whatever was asked of it). An interface ethtool cannot ask is taken as not
   merging: its frames come one by one. */
static napi_value js_merges_received(napi_env env, napi_callback_info info) {
  char ifname[IFNAMSIZ] = {0};
  if (!get_interface_argument(env, info, "piwire: mergesReceived(ifname)", ifname)) return NULL;
  struct ethtool_value gro = {.cmd = ETHTOOL_GGRO, .data = 0};
  struct ethtool_value flags = {.cmd = ETHTOOL_GFLAGS, .data = 0};
  bool merges = (ethtool_command(ifname, &gro) == 0 && gro.data != 0) ||
                (ethtool_command(ifname, &flags) == 0 && (flags.data & ETH_FLAG_LRO) != 0);
  napi_value result;
  NAPI_CALL(env, napi_get_boolean(env, merges, &result));
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
      {"enableSegmentOffload", NULL, js_enable_segment_offload, NULL, NULL, NULL, napi_enumerable, NULL},
      {"kernelStatistics", NULL, js_kernel_statistics, NULL, NULL, NULL, napi_enumerable, NULL},
      {"carrier", NULL, js_carrier, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mac", NULL, js_mac, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mtu", NULL, js_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"disableOffloads", NULL, js_disable_offloads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mergesReceived", NULL, js_merges_received, NULL, NULL, NULL, napi_enumerable, NULL},
      {"notify", NULL, js_notify, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
