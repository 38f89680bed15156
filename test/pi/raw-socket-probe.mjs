#!/usr/bin/env node
// The raw-socket addon (IP mode, hal/link/ip.ts) on the machine it was built for: run by
// the emulated-Pi stage with the ARM node, in the ARM chroot, the arm64 VM and the
// Docker image. Loads `raw-socket` from the working directory's node_modules (the
// built checkout or /opt/piwire), opens the socket IP mode opens (SOCK_RAW, IPPROTO_ICMP
// here), sets the options IP mode sets (SO_BINDTODEVICE, IP_HDRINCL, SO_MARK) and pings
// PEER through it: an ICMP echo request with our own IPv4 header out of INTERFACE, the
// kernel's echo reply read back from the socket.
//
//   node raw-socket-probe.mjs INTERFACE PEER [--mark required|optional] [--load-only]
//
// Prints one JSON line: { arch, loaded, error?, socket?, options?, reply? } and exits 0
// when everything required worked: SO_MARK is `optional` by default because qemu-user
// does not translate it (ENOPROTOOPT), so under user-mode emulation only a real ARM
// kernel (the VM) can prove it; --load-only stops after loading (a user without
// CAP_NET_RAW). Every wait is bounded (10 s).
import { createRequire } from 'node:module';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';

const [interfaceName = 'lo', peer = '127.0.0.1', ...flags] = process.argv.slice(2);
const markRequired = flags.includes('--mark') && flags[flags.indexOf('--mark') + 1] === 'required';
const loadOnly = flags.includes('--load-only');
const SO_MARK = 36;
// RST_GUARD_MARK of hal/link/ip-guard.ts (the value IP mode sets).
const MARK = 0x70770001;
const report = { arch: process.arch, loaded: false };

function finish(ok) {
  console.log(JSON.stringify(report));
  process.exit(ok ? 0 : 1);
}

function message(error) {
  return error instanceof Error ? error.message : String(error);
}

/** RFC 1071 Internet checksum of `bytes`. */
function checksum(bytes) {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += bytes.readUInt16BE(i);
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** IPv4 header (RFC 791; source 0: the kernel fills it in under IP_HDRINCL) + ICMP echo request (RFC 792). */
function echoRequest(destination, identifier) {
  const packet = Buffer.alloc(20 + 8 + 16);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64;
  packet[9] = 1;
  destination.split('.').forEach((octet, index) => (packet[16 + index] = Number(octet)));
  const icmp = packet.subarray(20);
  icmp[0] = 8;
  icmp.writeUInt16BE(identifier, 4);
  icmp.writeUInt16BE(1, 6);
  icmp.write('piwire raw probe', 8, 'latin1');
  icmp.writeUInt16BE(checksum(icmp), 2);
  packet.writeUInt16BE(checksum(packet.subarray(0, 20)), 10);
  return packet;
}

let raw;
try {
  raw = createRequire(join(process.cwd(), 'package.json'))('raw-socket');
  report.loaded = true;
} catch (error) {
  report.error = `require('raw-socket'): ${message(error)}`;
  finish(false);
}
if (loadOnly) finish(true);

let socket;
try {
  socket = raw.createSocket({ protocol: raw.Protocol.ICMP, bufferSize: 65_536 });
  report.socket = 'ok';
} catch (error) {
  report.socket = message(error);
  finish(false);
}
const device = Buffer.from(`${interfaceName}\0`);
const options = [
  ['SO_BINDTODEVICE', raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_BINDTODEVICE, device, device.length],
  ['IP_HDRINCL', raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1],
  ['SO_MARK', raw.SocketLevel.SOL_SOCKET, SO_MARK, MARK],
];
report.options = {};
for (const [name, ...args] of options) {
  try {
    socket.setOption(...args);
    report.options[name] = 'ok';
  } catch (error) {
    report.options[name] = message(error);
  }
}
const optionsOk = report.options.SO_BINDTODEVICE === 'ok' && report.options.IP_HDRINCL === 'ok' && (!markRequired || report.options.SO_MARK === 'ok');

const identifier = process.pid & 0xffff;
const timer = setTimeout(() => {
  report.reply = 'no echo reply within 10 s';
  socket.close();
  finish(false);
}, 10_000);
socket.on('message', (packet) => {
  const headerLength = (packet[0] & 0x0f) * 4;
  const icmp = packet.subarray(headerLength);
  // Our own request may be seen too (type 8); only the peer's reply (type 0) counts.
  if (icmp.length < 8 || icmp[0] !== 0 || icmp.readUInt16BE(4) !== identifier) return;
  clearTimeout(timer);
  report.reply = `${icmp.length} bytes from ${packet.subarray(12, 16).join('.')}`;
  socket.close();
  finish(optionsOk);
});
socket.on('error', (error) => {
  clearTimeout(timer);
  report.reply = message(error);
  finish(false);
});
const request = echoRequest(peer, identifier);
socket.send(request, 0, request.length, peer, (error) => {
  if (!error) return;
  clearTimeout(timer);
  report.reply = `send: ${message(error)}`;
  socket.close();
  finish(false);
});
