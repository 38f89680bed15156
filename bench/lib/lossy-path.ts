/**
 * The loss section's path (issue 12): device — bridge — LAN, three namespaces, with
 * random loss ON THE PATH. `tc netem` is not available in this kernel, and a drop at a
 * host's own output is not loss (its TCP sees the failed transmit and resends at once),
 * so the frames are dropped in the middle: the bridge namespace holds a Linux bridge
 * `br0` over two veths (`br-dev` to the device's `veth-dev`, `br-lan` to the LAN's
 * `veth-lan`), and an nftables bridge-family table whose forward chain drops IPv4 frames
 * at random: `ether type ip numgen random mod 1000 < N drop`, both directions (ARP is
 * left alone: this measures TCP's loss recovery, not ARP's retries).
 *
 * The returned object is a VethTopology, so everything that runs on the plain veth pair
 * (kernel servers, piwire on `packet:veth-dev`, clients in the LAN namespace) runs here
 * unchanged. Offloads are off on every veth (four, six with `kernelPort`) and every veth
 * has the same MTU.
 * Addresses: only 198.18.0.0/15 (the device and LAN ones of test/support/netns.ts); the
 * bridge has none.
 *
 * `kernelPort: true` adds a second device port for the kernel's own servers, so the
 * kernel and piwire can serve side by side and the loss section can alternate their
 * transfers (a shared machine's load then falls on both alike): `veth-kdev` in the device
 * namespace, with 198.18.0.3/24, to `br-kdev` on the same bridge, offloads off, same MTU.
 * piwire keeps `veth-dev` and its address there. The device namespace is told to answer
 * ARP only on the interface that holds the address asked for (`arp_ignore` 1; the default,
 * 0, allows an answer for any of its addresses on any interface), a guard that the
 * kernel's traffic never comes in through piwire's `veth-dev` and its packet socket
 * (test/integration/lossy-path.test.ts checks that it does not).
 *
 * Every namespace is removed by `destroy()`, on a setup failure, and by netns.ts's exit
 * handlers; nft runs only inside the bridge namespace.
 */
import {
  addNamespace,
  DEVICE_INTERFACE,
  disableIpv6,
  disableOffloads,
  execOrThrow,
  LAN_INTERFACE,
  onceAsync,
  PREFIX_LENGTH,
  removeNamespace,
  SETUP_COMMAND_TIMEOUT_MS,
  VETH_PEER_ADDRESS,
  vethTopology,
  waitForOperstateUp,
  type ExecResult,
  type VethTopology,
} from '../../test/support/netns.ts';

const BRIDGE = 'br0';
const BRIDGE_DEVICE_PORT = 'br-dev';
const BRIDGE_LAN_PORT = 'br-lan';
const KERNEL_INTERFACE = 'veth-kdev';
const BRIDGE_KERNEL_PORT = 'br-kdev';
const KERNEL_PORT_ADDRESS = '198.18.0.3';
const NFT_TABLE = 'pwloss';
const NFT_CHAIN = 'forward';

export interface LossyPath extends VethTopology {
  /** The namespace with the bridge and the nft table. */
  readonly bridgeNamespace: string;
  /** Drops this share (0–1, in steps of 0.001) of forwarded IPv4 frames, each direction independently. */
  setLoss(rate: number): Promise<void>;
  /** IPv4 frames the bridge dropped since the last `setLoss`. */
  droppedFrames(): Promise<number>;
  /** The kernel's own port (`kernelPort: true`): its interface in the device namespace and the address on it. */
  readonly kernelPort?: { readonly interfaceName: string; readonly address: string };
}

export async function createLossyPath(options: { mtu: number; prefix?: string; kernelPort?: boolean }): Promise<LossyPath> {
  const prefix = options.prefix ?? 'pw';
  const created: string[] = [];
  const destroy = onceAsync(async () => {
    for (const namespace of created) await removeNamespace(namespace);
  });
  const setup = (namespace: string, argv: string[], input?: string): Promise<ExecResult> =>
    execOrThrow(namespace, argv, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS, input });
  try {
    const deviceNamespace = await addNamespace(prefix, 'dev');
    created.push(deviceNamespace);
    const bridgeNamespace = await addNamespace(prefix, 'br');
    created.push(bridgeNamespace);
    const lanNamespace = await addNamespace(prefix, 'lan');
    created.push(lanNamespace);
    // The kernel stays silent on the firmware's interface and on the bridge (no IPv6).
    await disableIpv6(deviceNamespace);
    await disableIpv6(bridgeNamespace);
    for (const namespace of created) await setup(namespace, ['ip', 'link', 'set', 'lo', 'up']);

    await setup(deviceNamespace, ['ip', 'link', 'add', DEVICE_INTERFACE, 'type', 'veth', 'peer', 'name', BRIDGE_DEVICE_PORT, 'netns', bridgeNamespace]);
    await setup(lanNamespace, ['ip', 'link', 'add', LAN_INTERFACE, 'type', 'veth', 'peer', 'name', BRIDGE_LAN_PORT, 'netns', bridgeNamespace]);
    if (options.kernelPort) await setup(deviceNamespace, ['ip', 'link', 'add', KERNEL_INTERFACE, 'type', 'veth', 'peer', 'name', BRIDGE_KERNEL_PORT, 'netns', bridgeNamespace]);
    // No STP and no forwarding delay: the ports forward as soon as they are up.
    await setup(bridgeNamespace, ['ip', 'link', 'add', BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    const mtu = String(options.mtu);
    const links: [string, string][] = [
      [deviceNamespace, DEVICE_INTERFACE],
      [bridgeNamespace, BRIDGE_DEVICE_PORT],
      [bridgeNamespace, BRIDGE_LAN_PORT],
      [lanNamespace, LAN_INTERFACE],
      ...(options.kernelPort ? ([[deviceNamespace, KERNEL_INTERFACE], [bridgeNamespace, BRIDGE_KERNEL_PORT]] as [string, string][]) : []),
    ];
    const unchangeable: string[] = [];
    for (const [namespace, name] of links) {
      await setup(namespace, ['ip', 'link', 'set', name, 'mtu', mtu]);
      unchangeable.push(...(await disableOffloads(namespace, name)));
    }
    await setup(bridgeNamespace, ['ip', 'link', 'set', BRIDGE, 'mtu', mtu]);
    for (const port of [BRIDGE_DEVICE_PORT, BRIDGE_LAN_PORT, ...(options.kernelPort ? [BRIDGE_KERNEL_PORT] : [])]) await setup(bridgeNamespace, ['ip', 'link', 'set', port, 'master', BRIDGE]);
    await setup(bridgeNamespace, ['nft', '-f', '-'], `table bridge ${NFT_TABLE} {\n chain ${NFT_CHAIN} {\n  type filter hook forward priority 0; policy accept;\n }\n}\n`);
    await setup(lanNamespace, ['ip', 'address', 'add', `${VETH_PEER_ADDRESS}/${PREFIX_LENGTH}`, 'dev', LAN_INTERFACE]);
    if (options.kernelPort) {
      await setup(deviceNamespace, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1']);
      await setup(deviceNamespace, ['ip', 'address', 'add', `${KERNEL_PORT_ADDRESS}/${PREFIX_LENGTH}`, 'dev', KERNEL_INTERFACE]);
    }
    for (const [namespace, name] of [...links, [bridgeNamespace, BRIDGE] as [string, string]]) await setup(namespace, ['ip', 'link', 'set', name, 'up']);
    await waitForOperstateUp(lanNamespace, LAN_INTERFACE);
    await waitForOperstateUp(bridgeNamespace, BRIDGE);
    if (options.kernelPort) await waitForOperstateUp(deviceNamespace, KERNEL_INTERFACE);

    const setLoss = async (rate: number): Promise<void> => {
      const perMille = Math.round(rate * 1000);
      if (!(perMille >= 0 && perMille <= 1000)) throw new Error(`loss rate ${rate} is not in [0, 1]`);
      await setup(bridgeNamespace, ['nft', 'flush', 'chain', 'bridge', NFT_TABLE, NFT_CHAIN]);
      if (perMille > 0) {
        // numgen draws 0–999, so "< 1000" is not a valid comparison: 100% is no draw at all.
        const draw = perMille < 1000 ? ['numgen', 'random', 'mod', '1000', '<', String(perMille)] : [];
        await setup(bridgeNamespace, ['nft', 'add', 'rule', 'bridge', NFT_TABLE, NFT_CHAIN, 'ether', 'type', 'ip', ...draw, 'counter', 'drop']);
      }
    };
    const droppedFrames = async (): Promise<number> => {
      const listing = await setup(bridgeNamespace, ['nft', '-j', 'list', 'chain', 'bridge', NFT_TABLE, NFT_CHAIN]);
      return countedPackets(listing.stdout);
    };

    const kernelPort = options.kernelPort ? { kernelPort: { interfaceName: KERNEL_INTERFACE, address: KERNEL_PORT_ADDRESS } } : {};
    return { ...vethTopology({ mtu: options.mtu, deviceNamespace, lanNamespace, unchangeable, destroy }), bridgeNamespace, setLoss, droppedFrames, ...kernelPort };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Sum of the `counter` statements' packets in `nft -j list chain` output. */
function countedPackets(json: string): number {
  const parsed = JSON.parse(json) as { nftables?: { rule?: { expr?: { counter?: { packets?: number } }[] } }[] };
  let packets = 0;
  for (const item of parsed.nftables ?? []) {
    for (const expression of item.rule?.expr ?? []) packets += expression.counter?.packets ?? 0;
  }
  return packets;
}
