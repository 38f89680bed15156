/**
 * The transmit memory of a link with segmentation offload (src/net/device.ts
 * `SegmentOffload.superFrame`): a fixed set of buffers for TCP super-frames, reused once
 * the link has put them on the wire, as a driver's transmit ring is.
 *
 * Why not fresh memory, as ordinary frames have (src/net/frame-slab.ts)? A bulk sender
 * hands over one super-frame of up to 64 KiB every few microseconds; carved from fresh
 * slabs that was hundreds of megabytes a second of `ArrayBuffer` backing stores, and
 * V8's collections over them raised the firmware's user CPU per GiB *received* by half
 * for the rest of its life (bench/BASELINE.md, "super-frames from the link's own ring").
 *
 * Contract: `take(length)` returns a view of `length` bytes (its first HEADER_BYTES
 * zeroed, the rest whatever the slot held: the caller writes every byte) that stays the
 * caller's until it is handed to the link; `released()` says every taken buffer has
 * left (the link's flush copied them into the kernel, or the wire cut them), so all
 * slots may be reused. When every slot is taken, `take` first asks the link to flush
 * (`makeRoom`). Bound: SLOTS × (maxPacketBytes + 16) bytes, allocated on first use.
 */
import { ETHERNET_HEADER_BYTES } from './link.ts';

/** Super-frames a link holds before it must flush: 16 × 64 KiB = 1 MiB at most. */
export const SUPER_FRAME_SLOTS = 16;
/** Bytes zeroed at the start of a taken buffer: Ethernet + the largest IPv4 and TCP headers. */
const HEADER_BYTES = ETHERNET_HEADER_BYTES + 60 + 60;
/** Frames start 2 bytes past a 4-byte boundary (NET_IP_ALIGN), as frame-slab.ts's do. */
const ALIGN_OFFSET = 2;

export class SuperFrameRing {
  private readonly slots: Uint8Array[] = [];
  private taken = 0;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly makeRoom: () => void,
  ) {}

  take(length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > this.maxFrameBytes) {
      throw new RangeError(`a super-frame is at most ${this.maxFrameBytes} bytes, asked for ${length}`);
    }
    if (this.taken === SUPER_FRAME_SLOTS) {
      this.makeRoom();
      // A link that could not send (closed, no handle) still gives its slots back: what
      // it held is dropped with its queue.
      this.taken = 0;
    }
    let slot = this.slots[this.taken];
    if (slot === undefined) {
      slot = new Uint8Array(ALIGN_OFFSET + this.maxFrameBytes);
      this.slots.push(slot);
    }
    this.taken++;
    const frame = slot.subarray(ALIGN_OFFSET, ALIGN_OFFSET + length);
    frame.fill(0, 0, Math.min(length, HEADER_BYTES));
    return frame;
  }

  /** Every taken buffer has left the link: all slots are free again. */
  released(): void {
    this.taken = 0;
  }
}
