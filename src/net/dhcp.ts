/**
 * The DHCP client (RFC 2131 §4.4, Figure 5), with RFC 5227 probing of every new address.
 * Pure: it reads no clock (every entry point takes `now`), sets no timer (`pollAt()`),
 * and sends through a `DhcpHost` (src/net/dhcp-host.ts binds it to an interface).
 *
 *   INIT ─DISCOVER→ SELECTING ─OFFER/REQUEST→ REQUESTING ─ACK→ PROBING ─free→ BOUND
 *    ▲                                            │NAK            │conflict: DECLINE,
 *    │                                            ▼               │INIT after 10 s
 *    ├──────────────────────────────────────── INIT ◀─────────────┘
 *   INIT-REBOOT (a persisted address) ─REQUEST→ REBOOTING ─ACK→ PROBING;  NAK/silence → INIT
 *   carrier back while holding a lease ─REQUEST→ REBOOTING (verifying) ─ACK→ BOUND;
 *     NAK → lease lost, INIT;  silence → the lease is kept (BOUND, its timers unchanged)
 *   BOUND ─T1→ RENEWING (unicast to the server) ─T2→ REBINDING (broadcast) ─expiry→ INIT
 *   RENEWING/REBINDING ─ACK→ BOUND;  ─NAK→ INIT
 *
 * Timers, in one place (`nextAt`):
 * - Retransmission (RFC 2131 §4.1): the first after 4 s, doubling to 64 s, each
 *   randomized by −1..+1 s ("uniform random number"). DISCOVER is retransmitted for as
 *   long as no server answers; a REQUEST in REQUESTING/REBOOTING `requestAttempts` times,
 *   then the client starts over (§3.1.5, §3.2 step 5).
 * - RENEWING and REBINDING (§4.4.5): the next REQUEST after half the time left until T2
 *   (resp. lease expiry), but not before 60 s; T2 and expiry move to the next state.
 * - T1, T2 default to 0.5 and 0.875 of the lease (§4.4.5); the server's options 58/59
 *   win when they are ordered (T1 < T2 < lease). Times are measured from the moment the
 *   REQUEST that got the ACK was first sent (§4.4.1). A lease shorter than
 *   `minimumLeaseSeconds` is stretched to it (dhcpcd does the same), so a hostile or
 *   broken server cannot make us renew in a loop.
 * - The first DISCOVER waits a random 0..`startDelayMaxMs`. RFC 2131 §4.4.1 suggests
 *   1..10 s against a whole network booting at once; a device that powers up alone is
 *   better served by dhcpcd's shorter wait.
 * - After a DECLINE the client waits `declineWaitMs` (§3.1.5: "a minimum of ten
 *   seconds"); after RFC 5227 §1.1 MAX_CONFLICTS declines in a row, RATE_LIMIT_INTERVAL.
 * - Carrier back (`linkUp`, RFC 2131 §3.2 and dhcpcd's reboot on link up): the cable may
 *   now lead to another network, so a held lease is verified at once with an INIT-REBOOT
 *   REQUEST, and a client still looking for a server starts its DISCOVERs over.
 * - After a NAK in REQUESTING/REBOOTING the restart is immediate the first time and then
 *   backs off (2 s doubling to 64 s), so a server that NAKs everything is not flooded.
 *
 * Untrusted input: every received message is checked (op, hardware address, xid, message
 * type for the state, server identifier, addresses, mask, router, lease) and a message
 * failing any check is counted (`dhcp.drop.<reason>`) and dropped, never thrown on.
 *
 * Events (causes; src/diag/faults.ts turns them into fault codes): `dhcp_bound` {ip,
 * prefix, router, server, leaseSeconds} (clears fault 2), `dhcp_renewed`, `dhcp_nak`
 * {server, message}, `dhcp_declined` {ip, mac}, `dhcp_lost` {ip, reason: 'nak' |
 * 'expired'} (raises fault 2, SPEC §6's address family: no usable address, until the
 * next bind), `dhcp_state` {from, to}. The host hears of every address change through
 * `setLease` (undefined: stop using it).
 */
import type { EventSink } from '../events.ts';
import type { RandomSource } from '../random.ts';
import type { Counters } from '../stats.ts';
import type { Instant, Pollable } from '../time.ts';
import type { ArpRepr } from '../wire/arp.ts';
import { BootpOp, DhcpMessageType, dhcpMessageTypeName, DhcpOption, parseDhcp } from '../wire/dhcp.ts';
import type { DhcpOptions, DhcpRepr } from '../wire/dhcp.ts';
import { AddressProbe, randomBetween, RFC5227_PROBE } from './address-probe.ts';
import type { ProbeSettings } from './address-probe.ts';
import { formatIpv4, formatMac, IPV4_BROADCAST, isUnicastHostAddress, macEquals } from './address.ts';
import type { Ipv4Address, MacAddress } from './address.ts';
import { classifyAddress } from './route.ts';

export type DhcpState =
  | 'INIT'
  | 'SELECTING'
  | 'REQUESTING'
  | 'PROBING'
  | 'BOUND'
  | 'RENEWING'
  | 'REBINDING'
  | 'REBOOTING'
  | 'STOPPED';

export interface DhcpLease {
  address: Ipv4Address;
  prefixLength: number;
  router: Ipv4Address | undefined;
  server: Ipv4Address;
  dnsServers: Ipv4Address[];
  /** Seconds; Infinity for an infinite lease. */
  leaseSeconds: number;
  renewalSeconds: number;
  rebindingSeconds: number;
  /** When the REQUEST that got this lease was first sent: T1, T2 and expiry count from here. */
  acquiredAt: Instant;
}

export interface DhcpHost {
  readonly mac: MacAddress;
  /** Sends `message` from port 68 to `destination`:67 (IPV4_BROADCAST: the limited broadcast). */
  send(message: DhcpRepr, destination: Ipv4Address): void;
  sendArpProbe(target: Ipv4Address): void;
  /** The address to use from now on; undefined: stop using any (RFC 2131 §4.4.5 expiry, NAK). */
  setLease(lease: DhcpLease | undefined, now: Instant): void;
}

export interface DhcpSettings {
  startDelayMaxMs: number;
  initialRetransmitMs: number;
  maxRetransmitMs: number;
  /** The ± randomization of each retransmission. */
  jitterMs: number;
  requestAttempts: number;
  /** RFC 2131 §4.4.5: least spacing of REQUESTs in RENEWING and REBINDING. */
  minimumRenewRetransmitMs: number;
  declineWaitMs: number;
  /** RFC 5227 §1.1 MAX_CONFLICTS and RATE_LIMIT_INTERVAL. */
  maxConflicts: number;
  conflictRateLimitMs: number;
  minimumLeaseSeconds: number;
  probe: ProbeSettings;
}

export const DEFAULT_DHCP_SETTINGS: Readonly<DhcpSettings> = Object.freeze({
  startDelayMaxMs: 1000,
  initialRetransmitMs: 4000,
  maxRetransmitMs: 64_000,
  jitterMs: 1000,
  requestAttempts: 4,
  minimumRenewRetransmitMs: 60_000,
  declineWaitMs: 10_000,
  maxConflicts: 10,
  conflictRateLimitMs: 60_000,
  minimumLeaseSeconds: 20,
  probe: RFC5227_PROBE,
});

/** What we ask for (RFC 2132 §9.8): mask, router, DNS, lease, T1, T2. */
const PARAMETER_REQUEST_LIST = [
  DhcpOption.SUBNET_MASK,
  DhcpOption.ROUTER,
  DhcpOption.DNS_SERVER,
  DhcpOption.LEASE_TIME,
  DhcpOption.RENEWAL_TIME,
  DhcpOption.REBINDING_TIME,
];
const INFINITE_LEASE = 0xffffffff;
const NAK_BACKOFF_FIRST_MS = 2000;
const MAX_DNS_SERVERS = 4;

export interface DhcpDependencies {
  random: RandomSource;
  counters: Counters;
  events: EventSink;
}

/** The shell's `status` view. */
export interface DhcpStatus {
  state: DhcpState;
  address: string | null;
  router: string | null;
  server: string | null;
  leaseSeconds: number | null;
  /** Milliseconds until T1 / T2 / expiry (negative once passed), null without a lease. */
  renewInMs: number | null;
  rebindInMs: number | null;
  expiresInMs: number | null;
}

export class DhcpClient implements Pollable {
  private currentState: DhcpState = 'STOPPED';
  private readonly settings: DhcpSettings;
  private readonly clientIdentifier: Uint8Array;
  /** The lease in use (BOUND, RENEWING, REBINDING) or being probed (PROBING). */
  private currentLease: DhcpLease | undefined;
  /** The offer being requested (REQUESTING), or the address asked back (REBOOTING). */
  private offered: { address: Ipv4Address; server: Ipv4Address | undefined } | undefined;
  private transactionId = 0;
  /** When this exchange began (the `secs` field) and when its REQUEST was first sent. */
  private exchangeStartedAt: Instant = 0;
  private requestFirstSentAt: Instant = 0;
  private transmissions = 0;
  private retransmitDelay = 0;
  /** The one timer: next transmission, state change or probe step. */
  private nextAt: Instant | undefined;
  private probe: AddressProbe | undefined;
  private conflicts = 0;
  private naks = 0;

  constructor(
    private readonly host: DhcpHost,
    private readonly deps: DhcpDependencies,
    settings: Partial<DhcpSettings> = {},
  ) {
    this.settings = { ...DEFAULT_DHCP_SETTINGS, ...settings };
    // RFC 2132 §9.14: type 1 (Ethernet) followed by the MAC, as most clients send it.
    this.clientIdentifier = Uint8Array.of(1, ...host.mac);
  }

  get state(): DhcpState {
    return this.currentState;
  }

  get lease(): Readonly<DhcpLease> | undefined {
    const s = this.currentState;
    return s === 'BOUND' || s === 'RENEWING' || s === 'REBINDING' || this.verifying() ? this.currentLease : undefined;
  }

  /**
   * The carrier came back. A held lease is verified (INIT-REBOOT REQUEST for its address,
   * the address kept meanwhile); a client without one restarts its DISCOVERs now instead
   * of at the end of a back-off that may be a minute long.
   */
  linkUp(now: Instant): void {
    const s = this.currentState;
    if ((s === 'BOUND' || s === 'RENEWING' || s === 'REBINDING') && this.currentLease) {
      this.offered = { address: this.currentLease.address, server: undefined };
      this.beginExchange(now);
      this.transactionId = this.deps.random.uint32();
      this.setState('REBOOTING');
      this.sendRequest(now);
      return;
    }
    if (s === 'INIT' || s === 'SELECTING') this.enterInit(now, 0);
  }

  /**
   * Starts acquiring: INIT-REBOOT (RFC 2131 §3.2) with `previousAddress` (a lease kept
   * from an earlier run), else INIT.
   */
  start(now: Instant, previousAddress?: Ipv4Address): void {
    if (previousAddress !== undefined && isUnicastHostAddress(previousAddress)) {
      this.offered = { address: previousAddress >>> 0, server: undefined };
      this.beginExchange(now);
      this.setState('REBOOTING');
      this.sendRequest(now);
      return;
    }
    this.enterInit(now, randomBetween(this.deps.random, 0, this.settings.startDelayMaxMs));
  }

  /** Continues with a lease acquired elsewhere (by an earlier client on another interface). */
  resume(lease: DhcpLease, now: Instant): void {
    this.currentLease = { ...lease, dnsServers: [...lease.dnsServers] };
    this.enterBound(now);
  }

  stop(): void {
    this.setState('STOPPED');
    this.nextAt = undefined;
    this.probe = undefined;
  }

  pollAt(): Instant | undefined {
    return this.nextAt;
  }

  poll(now: Instant): void {
    if (this.nextAt === undefined || now < this.nextAt) return;
    switch (this.currentState) {
      case 'INIT':
        this.beginExchange(now);
        this.transactionId = this.deps.random.uint32();
        this.setState('SELECTING');
        this.sendDiscover(now);
        return;
      case 'SELECTING':
        this.sendDiscover(now);
        return;
      case 'REQUESTING':
      case 'REBOOTING':
        if (this.transmissions >= this.settings.requestAttempts) {
          this.deps.counters.increment('dhcp.request-timeout');
          // §3.2 step 5: nobody answered the verification: the lease is still ours.
          if (this.verifying()) {
            this.enterBound(now);
            return;
          }
          // §3.1.5 / §3.2 step 5: no answer to the REQUEST: start over.
          this.enterInit(now, 0);
          return;
        }
        this.sendRequest(now);
        return;
      case 'PROBING':
        this.pollProbe(now);
        return;
      case 'BOUND':
        this.beginExchange(now);
        this.transactionId = this.deps.random.uint32();
        this.setState('RENEWING');
        this.sendRenewal(now);
        return;
      case 'RENEWING':
        if (now >= this.instantOf('rebind')) {
          this.setState('REBINDING');
        }
        this.sendRenewal(now);
        return;
      case 'REBINDING':
        if (now >= this.instantOf('expiry')) {
          this.loseLease(now, 'expired');
          return;
        }
        this.sendRenewal(now);
        return;
      case 'STOPPED':
        this.nextAt = undefined;
        return;
    }
  }

  /** An ARP packet seen on the link (the interface's observer): RFC 5227 conflict check. */
  arpSeen(packet: ArpRepr, now: Instant): void {
    if (this.currentState !== 'PROBING' || !this.probe || !this.currentLease) return;
    if (!this.probe.conflicts(packet)) return;
    const lease = this.currentLease;
    this.deps.counters.increment('dhcp.conflict');
    this.deps.events.emit('dhcp_declined', { ip: formatIpv4(lease.address), mac: formatMac(packet.senderHardwareAddr) });
    // RFC 2131 §3.1.5: DECLINE, then start over after at least ten seconds.
    this.host.send(
      this.message(DhcpMessageType.DECLINE, now, {
        requestedAddress: lease.address,
        serverIdentifier: lease.server,
        message: 'address in use (RFC 5227 probe)',
      }),
      IPV4_BROADCAST,
    );
    this.deps.counters.increment('dhcp.tx.decline');
    this.conflicts++;
    const wait = this.conflicts >= this.settings.maxConflicts ? this.settings.conflictRateLimitMs : this.settings.declineWaitMs;
    this.currentLease = undefined;
    this.probe = undefined;
    this.enterInit(now, wait);
  }

  /** A UDP payload that arrived on port 68. Never throws. */
  receive(payload: Uint8Array, now: Instant): void {
    const parsed = parseDhcp(payload);
    if (!parsed.ok) return this.drop(parsed.error);
    const message = parsed.value;
    if (message.op !== BootpOp.REPLY) return this.drop('not-reply');
    if (!macEquals(message.clientHardwareAddress, this.host.mac)) return this.drop('not-for-us');
    const type = message.options.messageType;
    if (type === undefined) return this.drop('no-message-type');
    if (!this.awaitingReply()) return this.drop('unexpected');
    if (message.transactionId !== this.transactionId) return this.drop('wrong-xid');
    // Each handler ends in exactly one counter: `dhcp.rx.<type>` when it acts on the
    // message, a `dhcp.drop.<reason>` when a later check fails.
    switch (type) {
      case DhcpMessageType.OFFER:
        return this.receiveOffer(message, now);
      case DhcpMessageType.ACK:
        return this.receiveAck(message, now);
      case DhcpMessageType.NAK:
        return this.receiveNak(message, now);
      default:
        return this.drop('unexpected');
    }
  }

  status(now: Instant): DhcpStatus {
    const lease = this.lease;
    return {
      state: this.currentState,
      address: lease ? formatIpv4(lease.address) : null,
      router: lease?.router === undefined ? null : formatIpv4(lease.router),
      server: lease ? formatIpv4(lease.server) : null,
      leaseSeconds: lease ? (Number.isFinite(lease.leaseSeconds) ? lease.leaseSeconds : null) : null,
      renewInMs: lease ? finiteOrNull(this.instantOf('renew') - now) : null,
      rebindInMs: lease ? finiteOrNull(this.instantOf('rebind') - now) : null,
      expiresInMs: lease ? finiteOrNull(this.instantOf('expiry') - now) : null,
    };
  }

  // ------------------------------------------------------------------ receive

  private awaitingReply(): boolean {
    const s = this.currentState;
    return s === 'SELECTING' || s === 'REQUESTING' || s === 'REBOOTING' || s === 'RENEWING' || s === 'REBINDING';
  }

  /** RFC 2131 §4.4.1: take the first acceptable offer and request it. */
  private receiveOffer(message: DhcpRepr, now: Instant): void {
    if (this.currentState !== 'SELECTING') return this.drop('unexpected');
    const server = message.options.serverIdentifier;
    if (server === undefined || !isUnicastHostAddress(server)) return this.drop('bad-server-id');
    if (!isUnicastHostAddress(message.yourAddress)) return this.drop('bad-address');
    this.accepted(message);
    this.offered = { address: message.yourAddress, server };
    this.setState('REQUESTING');
    // The REQUEST has a back-off of its own, from 4 s; `secs` keeps counting (§4.4.1).
    this.transmissions = 0;
    this.retransmitDelay = this.settings.initialRetransmitMs;
    this.sendRequest(now);
  }

  private receiveAck(message: DhcpRepr, now: Instant): void {
    if (this.currentState === 'SELECTING') return this.drop('unexpected');
    const lease = this.leaseFrom(message);
    if (typeof lease === 'string') return this.drop(lease);
    if (this.verifying()) {
      // The held address confirmed after the carrier came back: nothing to probe.
      if (lease.address !== this.currentLease?.address) return this.drop('bad-address');
      this.accepted(message);
      this.extend(lease, now);
      return;
    }
    if (this.currentState === 'REQUESTING' || this.currentState === 'REBOOTING') {
      if (lease.address !== this.offered?.address) return this.drop('bad-address');
      if (this.currentState === 'REQUESTING' && lease.server !== this.offered.server) return this.drop('bad-server-id');
      this.accepted(message);
      // RFC 5227 §2.1 / RFC 2131 §4.4.1: probe before use.
      this.currentLease = lease;
      this.setState('PROBING');
      this.probe = new AddressProbe(lease.address, this.host.mac, this.settings.probe, this.deps.random, now, (target) =>
        this.host.sendArpProbe(target),
      );
      this.nextAt = this.probe.pollAt();
      return;
    }
    // RENEWING / REBINDING: the same address, extended (a different one would be a new lease).
    if (!this.currentLease || lease.address !== this.currentLease.address) return this.drop('bad-address');
    this.accepted(message);
    this.extend(lease, now);
  }

  private extend(lease: DhcpLease, now: Instant): void {
    this.currentLease = lease;
    this.deps.counters.increment('dhcp.renewed');
    this.deps.events.emit('dhcp_renewed', { ip: formatIpv4(lease.address), server: formatIpv4(lease.server), leaseSeconds: lease.leaseSeconds });
    this.enterBound(now);
    this.host.setLease(lease, now);
  }

  private receiveNak(message: DhcpRepr, now: Instant): void {
    if (this.currentState === 'SELECTING') return this.drop('unexpected');
    const server = message.options.serverIdentifier;
    // Where we know which server we talk to, only that one may refuse us.
    const expected = this.currentState === 'REQUESTING' ? this.offered?.server : this.currentState === 'RENEWING' ? this.currentLease?.server : undefined;
    if (expected !== undefined && server !== expected) return this.drop('bad-server-id');
    this.accepted(message);
    this.deps.events.emit('dhcp_nak', {
      server: server === undefined ? null : formatIpv4(server),
      message: message.options.message ?? null,
      state: this.currentState,
    });
    if (this.currentState === 'RENEWING' || this.currentState === 'REBINDING' || this.verifying()) {
      this.loseLease(now, 'nak');
      return;
    }
    const delay = this.naks === 0 ? 0 : Math.min(this.settings.maxRetransmitMs, NAK_BACKOFF_FIRST_MS * 2 ** (this.naks - 1));
    this.naks++;
    this.enterInit(now, delay);
  }

  /** The lease a (validated) ACK grants, or the drop reason. */
  private leaseFrom(message: DhcpRepr): DhcpLease | string {
    const o = message.options;
    const address = message.yourAddress;
    if (!isUnicastHostAddress(address)) return 'bad-address';
    const server = o.serverIdentifier ?? this.offered?.server ?? this.currentLease?.server;
    if (server === undefined || !isUnicastHostAddress(server)) return 'bad-server-id';
    let prefixLength: number;
    if (o.subnetMask !== undefined) {
      const length = maskToPrefix(o.subnetMask);
      if (length === undefined || length === 0 || length > 30) return 'bad-mask';
      prefixLength = length;
    } else {
      prefixLength = classfulPrefix(address);
    }
    const router = o.routers?.[0];
    if (router !== undefined) {
      const kind = classifyAddress(router, { address, prefixLength });
      if (kind !== 'unicast') return 'bad-router';
    }
    if (o.leaseTime === undefined) return 'no-lease-time';
    const leaseSeconds = o.leaseTime === INFINITE_LEASE ? Infinity : Math.max(o.leaseTime, this.settings.minimumLeaseSeconds);
    let renewalSeconds = leaseSeconds * 0.5;
    let rebindingSeconds = leaseSeconds * 0.875;
    const t1 = o.renewalTime;
    const t2 = o.rebindingTime;
    if (t1 !== undefined && t2 !== undefined && t1 < t2 && t2 < leaseSeconds) {
      renewalSeconds = t1;
      rebindingSeconds = t2;
    }
    return {
      address,
      prefixLength,
      router,
      server,
      dnsServers: (o.dnsServers ?? []).filter(isUnicastHostAddress).slice(0, MAX_DNS_SERVERS),
      leaseSeconds,
      renewalSeconds,
      rebindingSeconds,
      acquiredAt: this.requestFirstSentAt,
    };
  }

  /** REBOOTING to confirm a lease still held (after the carrier came back), not to get one. */
  private verifying(): boolean {
    return this.currentState === 'REBOOTING' && this.currentLease !== undefined;
  }

  private drop(reason: string): void {
    this.deps.counters.increment(`dhcp.drop.${reason}`);
  }

  private accepted(message: DhcpRepr): void {
    this.deps.counters.increment(`dhcp.rx.${dhcpMessageTypeName(message.options.messageType).toLowerCase()}`);
  }

  // ------------------------------------------------------------------ states

  private setState(state: DhcpState): void {
    if (state === this.currentState) return;
    this.deps.events.emit('dhcp_state', { from: this.currentState, to: state });
    this.currentState = state;
  }

  private enterInit(now: Instant, delayMs: number): void {
    this.setState('INIT');
    this.currentLease = undefined;
    this.offered = undefined;
    this.probe = undefined;
    this.nextAt = now + delayMs;
  }

  private beginExchange(now: Instant): void {
    this.exchangeStartedAt = now;
    this.transmissions = 0;
    this.retransmitDelay = this.settings.initialRetransmitMs;
  }

  private pollProbe(now: Instant): void {
    const probe = this.probe;
    const lease = this.currentLease;
    if (!probe || !lease) {
      this.enterInit(now, 0);
      return;
    }
    if (probe.poll(now) === 'probing') {
      this.nextAt = probe.pollAt();
      return;
    }
    this.probe = undefined;
    this.conflicts = 0;
    this.naks = 0;
    this.deps.counters.increment('dhcp.bound');
    this.deps.events.emit('dhcp_bound', {
      ip: formatIpv4(lease.address),
      prefix: lease.prefixLength,
      router: lease.router === undefined ? null : formatIpv4(lease.router),
      server: formatIpv4(lease.server),
      leaseSeconds: Number.isFinite(lease.leaseSeconds) ? lease.leaseSeconds : 'infinite',
    });
    this.enterBound(now);
    // Last: the host may hand the lease on and stop this client from its callback.
    this.host.setLease(lease, now);
  }

  private enterBound(now: Instant): void {
    this.setState('BOUND');
    const renewAt = this.instantOf('renew');
    this.nextAt = Number.isFinite(renewAt) ? Math.max(now, renewAt) : undefined;
  }

  /** RFC 2131 §4.4.5: the lease is gone; stop using the address, tell everybody, start over. */
  private loseLease(now: Instant, reason: 'nak' | 'expired'): void {
    const lease = this.currentLease;
    this.currentLease = undefined;
    this.deps.counters.increment(`dhcp.lost.${reason}`);
    const ip = lease ? formatIpv4(lease.address) : null;
    this.deps.events.emit('dhcp_lost', { ip, reason });
    this.enterInit(now, 0);
    this.host.setLease(undefined, now);
  }

  private instantOf(which: 'renew' | 'rebind' | 'expiry'): Instant {
    const lease = this.currentLease;
    if (!lease) return Infinity;
    const seconds = which === 'renew' ? lease.renewalSeconds : which === 'rebind' ? lease.rebindingSeconds : lease.leaseSeconds;
    return lease.acquiredAt + seconds * 1000;
  }

  // ------------------------------------------------------------------ send

  private sendDiscover(now: Instant): void {
    this.host.send(this.message(DhcpMessageType.DISCOVER, now, { parameterRequestList: PARAMETER_REQUEST_LIST }), IPV4_BROADCAST);
    this.deps.counters.increment('dhcp.tx.discover');
    this.scheduleRetransmission(now);
  }

  /** SELECTING's REQUEST (server id + requested address) or INIT-REBOOT's (requested address only). */
  private sendRequest(now: Instant): void {
    const offered = this.offered;
    if (!offered) {
      this.enterInit(now, 0);
      return;
    }
    if (this.transmissions === 0) this.requestFirstSentAt = now;
    this.host.send(
      this.message(DhcpMessageType.REQUEST, now, {
        requestedAddress: offered.address,
        serverIdentifier: offered.server,
        parameterRequestList: PARAMETER_REQUEST_LIST,
      }),
      IPV4_BROADCAST,
    );
    this.deps.counters.increment('dhcp.tx.request');
    this.scheduleRetransmission(now);
  }

  /** RENEWING (unicast to the server) and REBINDING (broadcast): ciaddr set, no server id. */
  private sendRenewal(now: Instant): void {
    const lease = this.currentLease;
    if (!lease) {
      this.enterInit(now, 0);
      return;
    }
    if (this.transmissions === 0) this.requestFirstSentAt = now;
    this.transmissions++;
    const renewing = this.currentState === 'RENEWING';
    const message = this.message(DhcpMessageType.REQUEST, now, { parameterRequestList: PARAMETER_REQUEST_LIST });
    message.clientAddress = lease.address;
    message.broadcast = false;
    this.host.send(message, renewing ? lease.server : IPV4_BROADCAST);
    this.deps.counters.increment(renewing ? 'dhcp.tx.renew' : 'dhcp.tx.rebind');
    // §4.4.5: half the time left to the next state change, at least 60 s, never past it.
    const boundary = this.instantOf(renewing ? 'rebind' : 'expiry');
    const wait = Math.max(this.settings.minimumRenewRetransmitMs, (boundary - now) / 2);
    this.nextAt = Math.min(boundary, now + wait);
  }

  /** RFC 2131 §4.1: 4 s, 8 s, ... 64 s, each ±1 s. */
  private scheduleRetransmission(now: Instant): void {
    this.transmissions++;
    const jitter = randomBetween(this.deps.random, -this.settings.jitterMs, this.settings.jitterMs);
    this.nextAt = now + Math.max(0, this.retransmitDelay + jitter);
    this.retransmitDelay = Math.min(this.retransmitDelay * 2, this.settings.maxRetransmitMs);
  }

  private message(type: number, now: Instant, options: DhcpOptions): DhcpRepr {
    const configured = this.currentState === 'RENEWING' || this.currentState === 'REBINDING';
    return {
      op: BootpOp.REQUEST,
      transactionId: this.transactionId,
      seconds: Math.floor((now - this.exchangeStartedAt) / 1000),
      // §4.1: we cannot take unicast before the address is configured.
      broadcast: !configured,
      clientAddress: 0,
      yourAddress: 0,
      serverAddress: 0,
      relayAddress: 0,
      clientHardwareAddress: this.host.mac,
      options: { messageType: type, clientIdentifier: this.clientIdentifier, ...options },
    };
  }
}

/** A contiguous mask's prefix length, or undefined. */
export function maskToPrefix(mask: Ipv4Address): number | undefined {
  const inverted = ~mask >>> 0;
  // Contiguous ones then zeros: the inverted mask plus one is a power of two.
  if ((inverted & (inverted + 1)) !== 0) return undefined;
  return 32 - Math.log2(inverted + 1);
}

/** RFC 2131 §3.3 leaves the default to the client; the old class boundaries, as dhcpcd. */
function classfulPrefix(address: Ipv4Address): number {
  const first = address >>> 24;
  if (first < 128) return 8;
  if (first < 192) return 16;
  return 24;
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? Math.round(value) : null;
}
