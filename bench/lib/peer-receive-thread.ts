/**
 * Where the LAN side's kernel receives what the device sends, for the idle section.
 *
 * A veth delivers a frame to its peer inside the sender's system call: `sendmmsg` on the
 * device's packet socket raises the peer's receive softirq, which runs on the way out of
 * that call, so the LAN's IP input, TCP and the ACK it sends back are billed to the
 * firmware process as system time (bench/BASELINE.md, "where the idle CPU is now": ~0.4
 * points of the idle window, work that on a Pi with a NIC runs on the peer machine).
 * Switching the LAN end to NAPI (a veth has NAPI only with GRO on) in threaded mode
 * moves that work to the peer's own kernel thread (`napi/veth-lan-…`), so the firmware's
 * CPU figure is its own. GRO on that end merges only in-order data segments of a flow;
 * the idle window carries keepalive probes and bare ACKs, which it passes one by one.
 */
import { exec } from '../../test/support/netns.ts';

/**
 * Puts the receive processing of `interfaceName` in `namespace` on its own NAPI thread
 * (`onOwnThread`), or back to the veth default (GRO off as the topology set it, no
 * thread). Returns false where the kernel or the device offers no threaded NAPI (a
 * device without NAPI refuses the write); the device is then left at its default.
 */
export async function setPeerReceiveThread(namespace: string, interfaceName: string, onOwnThread: boolean): Promise<boolean> {
  const threaded = `/sys/class/net/${interfaceName}/threaded`;
  const run = async (argv: string[]): Promise<boolean> => (await exec(namespace, argv)).code === 0;
  if (!(await run(['test', '-w', threaded]))) return false;
  if (onOwnThread) {
    if ((await run(['ethtool', '-K', interfaceName, 'gro', 'on'])) && (await run(['sh', '-c', `echo 1 > ${threaded}`]))) return true;
  }
  await run(['sh', '-c', `echo 0 > ${threaded}`]);
  await run(['ethtool', '-K', interfaceName, 'gro', 'off']);
  return !onOwnThread;
}
