/**
 * Frame buffers for the send path, carved from shared slabs (as Linux's page_frag
 * allocator carves skb heads from pages): one `ArrayBuffer` allocation serves ~20
 * full-sized frames instead of one per frame, which on V8 is a backing-store
 * allocation and a GC-tracked extension each time (the largest single cost of
 * `sendIpv4` in the issue 13 profile).
 *
 * Contract: `take(length)` returns a zero-filled view of exactly `length` bytes whose
 * memory is never handed out again, so ownership is the same as a fresh
 * `new Uint8Array(length)`: the device may keep the frame as long as it likes (a
 * neighbor queue, a delayed wire, a batch waiting for sendmmsg). A slab is never
 * reused, only dropped: it is freed by the collector once no frame of it is alive.
 * Bound: a kept frame keeps its slab alive, so memory held by N kept frames is at
 * most N × SLAB_BYTES (the neighbor queue's 256 frames: 8 MiB at worst, in practice
 * consecutive frames share slabs).
 *
 * Alignment: every frame starts 2 bytes past a 4-byte boundary (Linux's NET_IP_ALIGN),
 * so the IPv4 header after the 14-byte Ethernet header, and a TCP header after it,
 * are 32-bit aligned for the checksum's word reads.
 */

/** Slab size; frames above a quarter of it get their own buffer. */
export const SLAB_BYTES = 32 * 1024;
const DEDICATED_ABOVE = SLAB_BYTES / 4;
/** Offset modulo 4 at which frames start. */
const FRAME_ALIGN_OFFSET = 2;

export class FrameSlab {
  private slab = new Uint8Array(SLAB_BYTES);
  private used = 0;

  take(length: number): Uint8Array {
    if (length > DEDICATED_ABOVE) return new Uint8Array(length);
    let start = this.used + ((FRAME_ALIGN_OFFSET - this.used) & 3);
    if (start + length > SLAB_BYTES) {
      this.slab = new Uint8Array(SLAB_BYTES);
      start = FRAME_ALIGN_OFFSET;
    }
    this.used = start + length;
    return this.slab.subarray(start, start + length);
  }
}
