/**
 * The device's link from the configuration: the `link` spec's grammar (`packet:IFNAME`,
 * `tap:NAME`, `ip:IFNAME`, `sim`; SPEC section 2 `--link`) and the factory that opens it,
 * with the optional `pcap` capture stacked on a frame link so a technician can see
 * exactly what the device saw and sent. `ip:IFNAME` is the IP-level link of
 * hal/link/ip.ts (Wi-Fi-only boards); it opens only when its nftables RST guard is in
 * place (hal/link/ip-guard.ts), and carries no capture yet.
 *
 * Call order (firmware/run.ts): the schema checks the text with `parseLinkSpec` →
 * `openLink(spec, options)` → attachStack(opened.link) → on shutdown `link.close()`
 * (which also closes the capture) and `sim?.close()`. A capture file that cannot be
 * opened stops start-up as a `ConfigError` naming the `pcap` key (exit status 2).
 */
import type { Link } from '../hal/link/link.ts';
import { openIpLink, type IpLink } from '../hal/link/ip.ts';
import { checkRstGuard } from '../hal/link/ip-guard.ts';
import { openPacketLink } from '../hal/link/packet.ts';
import { openTapLink } from '../hal/link/tap.ts';
import { PcapLink } from '../hal/link/pcap.ts';
import { parseMac, type MacAddress } from '../src/net/address.ts';
import type { RandomSource } from '../src/random.ts';
import { nullEventSink } from '../src/events.ts';
import { createSimulatedLan, SIM_DEVICE_MAC, type SimulatedLan } from './board/sim.ts';
import type { RealtimeLoop } from './loop.ts';
import { ConfigError } from './config/errors.ts';

/** Where frames come from; see SPEC section 2 `--link`. */
export type LinkSpec =
  | { kind: 'packet'; interfaceName: string }
  | { kind: 'tap'; interfaceName: string }
  | { kind: 'ip'; interfaceName: string }
  | { kind: 'sim' };

/** Linux interface names: at most 15 bytes (IFNAMSIZ − 1), no `/` or white space, not `.` or `..`. */
const INTERFACE_NAME = /^[A-Za-z0-9_.@-]{1,15}$/;

/** What `parseLinkSpec` accepts, in the words of the configuration's error messages. */
export const LINK_ALLOWED = 'packet:IFNAME, tap:NAME, ip:IFNAME or sim (IFNAME/NAME: 1 to 15 of A-Z a-z 0-9 _ . @ -)';

/** Parses `packet:IFNAME`, `tap:NAME`, `ip:IFNAME` or `sim`; undefined for anything else. */
export function parseLinkSpec(text: string): LinkSpec | undefined {
  if (text === 'sim') return { kind: 'sim' };
  const match = /^(packet|tap|ip):(.*)$/.exec(text);
  const kind = match?.[1];
  const interfaceName = match?.[2] ?? '';
  if ((kind !== 'packet' && kind !== 'tap' && kind !== 'ip') || !INTERFACE_NAME.test(interfaceName) || interfaceName === '.' || interfaceName === '..') {
    return undefined;
  }
  return { kind, interfaceName };
}

export interface OpenLinkOptions {
  loop: RealtimeLoop;
  random: RandomSource;
  /** IP MTU (`net.mtu`). */
  mtu: number;
  /** `net.mac`; none means the link's own (a random one for tap, the simulated board's for sim). */
  mac: MacAddress | undefined;
  /** The device's address and prefix: the simulated LAN is built around them. */
  address: number;
  prefixLength: number;
  /** `pcap`: capture every frame in and out to this file (created or truncated). */
  pcapFile?: string | undefined;
  /** `net.segmentOffload` (packet links; default true). */
  segmentOffload?: boolean | undefined;
  /** `net.receiveOffload` (packet links; default true). */
  receiveOffload?: boolean | undefined;
}

export interface OpenedLink {
  /** The link the stack attaches to: the capture wrapper when `pcapFile` is set. */
  link: Link | IpLink;
  /** The simulated LAN, for `sim` (host-port bridges, simulated sensors). */
  sim?: SimulatedLan;
  /** packet: why the receive ring could not be had (the link receives with recvmmsg, slower). */
  ringFallback?: string;
  /** packet: why segmentation offload, asked for, is not on (TCP then sends segment by segment). */
  segmentOffloadFallback?: string;
  /** packet: why PACKET_IGNORE_OUTGOING is not on (outgoing frames are cloned to the receive socket and dropped there). */
  outgoingFallback?: string;
}

export function openLink(spec: LinkSpec, options: OpenLinkOptions): OpenedLink {
  const { mtu, mac } = options;
  if (spec.kind === 'ip') {
    if (options.pcapFile !== undefined) {
      throw new ConfigError([{ key: 'pcap', message: 'not available with an ip: link yet (capture on the interface with tcpdump)' }]);
    }
    // Without the rule the kernel resets every connection to the device's ports.
    const problem = checkRstGuard(spec.interfaceName);
    if (problem !== undefined) throw new Error(`--link ip:${spec.interfaceName}: ${problem}`);
    return { link: openIpLink({ interfaceName: spec.interfaceName, mtu }) };
  }
  let link: Link;
  let ringFallback: string | undefined;
  let segmentOffloadFallback: string | undefined;
  let outgoingFallback: string | undefined;
  let sim: SimulatedLan | undefined;
  if (spec.kind === 'sim') {
    sim = createSimulatedLan({
      loop: options.loop,
      random: options.random,
      events: nullEventSink,
      mtu,
      deviceAddress: options.address,
      deviceMac: mac ?? parseMac(SIM_DEVICE_MAC)!,
      prefixLength: options.prefixLength,
    });
    link = sim.deviceLink;
  } else if (spec.kind === 'packet') {
    const packet = openPacketLink({
      interfaceName: spec.interfaceName,
      mtu,
      mac,
      disableOffloads: true,
      segmentOffload: options.segmentOffload ?? true,
      receiveOffload: options.receiveOffload ?? true,
      // A capture shows the segments as they came: no merging of ours (the kernel's GRO,
      // which a macvlan cannot refuse, still shows).
      coalesce: (options.receiveOffload ?? true) && options.pcapFile === undefined,
    });
    ringFallback = packet.ringFallback;
    segmentOffloadFallback = packet.segmentOffloadFallback;
    outgoingFallback = packet.outgoingFallback;
    link = packet;
  } else {
    link = openTapLink({ name: spec.interfaceName, mtu, mac });
  }
  if (options.pcapFile !== undefined) {
    try {
      // The loop's clock is monotonic from process start: timeOrigin turns it into wall-clock dates.
      link = new PcapLink(link, { clock: options.loop.clock, path: options.pcapFile, timeOriginMs: performance.timeOrigin });
    } catch (error) {
      link.close();
      void sim?.close();
      // A capture file that cannot be written is a configuration error: say which key.
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ConfigError([{ key: 'pcap', message: `cannot write the capture file ${options.pcapFile} (${reason})` }]);
    }
  }
  return {
    link,
    ...(sim ? { sim } : {}),
    ...(ringFallback === undefined ? {} : { ringFallback }),
    ...(segmentOffloadFallback === undefined ? {} : { segmentOffloadFallback }),
    ...(outgoingFallback === undefined ? {} : { outgoingFallback }),
  };
}
