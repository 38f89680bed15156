/**
 * The TAP link against the Linux kernel, inside a network namespace of its own: the link
 * is opened in the namespace by a child process (test/hal/fixtures/link-agent.ts), the
 * kernel's side of the tap gets an address from 198.18.0.0/15, and the link asks it an
 * ARP question. The kernel's answer coming back proves both directions without ping.
 * Needs root and ip(8).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { randomLocalMac } from '../../hal/link/tap.ts';
import { canUseNamespaces, execIn, ipIn, LinkAgent, linkAgentPerSuite, NETNS_SKIP_REASON } from './fixtures/netns.ts';

const KERNEL_ADDRESS = [198, 18, 7, 1];
const LINK_ADDRESS = [198, 18, 7, 2];

function hex(bytes: number[]): string {
  return Buffer.from(bytes).toString('hex');
}

/** An ARP request (RFC 826) from the link: who has KERNEL_ADDRESS? tell LINK_ADDRESS. */
function arpRequest(linkMac: string): string {
  const mac = linkMac.replaceAll(':', '');
  return (
    'ffffffffffff' + // destination: broadcast
    mac + // source
    '0806' + // EtherType ARP
    '0001' + // hardware type Ethernet
    '0800' + // protocol type IPv4
    '06' + '04' + // address lengths
    '0001' + // operation: request
    mac + hex(LINK_ADDRESS) + // sender hardware / protocol address
    '000000000000' + hex(KERNEL_ADDRESS) // target hardware (unknown) / protocol address
  );
}

describe('randomLocalMac', () => {
  test('is unicast and locally administered, and differs between calls', () => {
    const macs = Array.from({ length: 16 }, () => randomLocalMac());
    for (const mac of macs) {
      assert.equal(mac.length, 6);
      assert.equal((mac[0] ?? 0) & 0x01, 0, 'unicast');
      assert.equal((mac[0] ?? 0) & 0x02, 0x02, 'locally administered');
    }
    assert.ok(new Set(macs.map((mac) => Buffer.from(mac).toString('hex'))).size > 1);
  });
});

describe('tap link in a network namespace', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 120_000 }, () => {
  // A %d template: the kernel picks the name, and the link must report the real one.
  const suite = linkAgentPerSuite((namespace) => new LinkAgent(namespace, 'tap', 'pwtap%d'), 'the tap to open');

  test('opens with the kernel-chosen name, its MTU, its own MAC and carrier up', () => {
    assert.equal(suite.opened().interfaceName, 'pwtap0');
    assert.equal(suite.opened().name, 'tap:pwtap0');
    assert.equal(suite.opened().mtu, 1500);
    assert.equal(suite.opened().carrier, true);
    const kernelMac = execIn(suite.namespace(), 'cat', ['/sys/class/net/pwtap0/address']).trim();
    assert.notEqual(suite.opened().mac, kernelMac, 'the stack is a host of its own on the segment');
  });

  test('the kernel answers an ARP request sent through the tap', async () => {
    const agent = suite.agent();
    ipIn(suite.namespace(), 'addr', 'add', `${KERNEL_ADDRESS.join('.')}/24`, 'dev', 'pwtap0');
    ipIn(suite.namespace(), 'link', 'set', 'pwtap0', 'up');
    const kernelMac = execIn(suite.namespace(), 'cat', ['/sys/class/net/pwtap0/address']).trim().replaceAll(':', '');
    const linkMac = String(suite.opened().mac).replaceAll(':', '');
    agent.command({ op: 'send', frames: [arpRequest(String(suite.opened().mac))] });
    const reply = await agent.waitFor(
      (event) => event.event === 'frame' && String(event.hex).slice(24, 28) === '0806',
      'the ARP reply',
    );
    const frame = String(reply.hex);
    assert.equal(frame.slice(0, 12), linkMac, 'to the link');
    assert.equal(frame.slice(12, 24), kernelMac, 'from the kernel side');
    assert.equal(frame.slice(28, 40), '000108000604', 'Ethernet/IPv4 ARP');
    assert.equal(frame.slice(40, 44), '0002', 'a reply');
    assert.equal(frame.slice(44, 56), kernelMac, 'sender hardware address');
    assert.equal(frame.slice(56, 64), hex(KERNEL_ADDRESS), 'sender protocol address');
    assert.equal(frame.slice(64, 76), linkMac, 'target hardware address');
    assert.equal(frame.slice(76, 84), hex(LINK_ADDRESS), 'target protocol address');
    const stats = await agent.stats();
    assert.equal(stats['link.tx.frames'], 1);
    assert.ok((stats['link.rx.frames'] ?? 0) >= 1);
  });

  test('closing a tap link removes its interface', async () => {
    const second = new LinkAgent(suite.namespace(), 'tap', 'pwclose0');
    try {
      await second.waitFor((event) => event.event === 'open', 'the second tap to open');
      assert.equal(spawnSync('ip', ['-n', suite.namespace(), 'link', 'show', 'pwclose0']).status, 0, 'exists while open');
      await second.close();
      assert.notEqual(spawnSync('ip', ['-n', suite.namespace(), 'link', 'show', 'pwclose0']).status, 0, 'gone once closed');
    } finally {
      second.kill();
    }
  });

  test('deleting the interface under the link takes the carrier down for good', async () => {
    const agent = suite.agent();
    agent.discardPending();
    ipIn(suite.namespace(), 'link', 'del', 'pwtap0');
    const down = await agent.waitFor((event) => event.event === 'carrier', 'carrier down');
    assert.equal(down.up, false);
    const stats = await agent.stats();
    assert.equal(stats['link.rx.fatal-errors'], 1);
    const before = stats['link.drop.link-down'] ?? 0;
    agent.command({ op: 'send', frames: [arpRequest(String(suite.opened().mac))] });
    await agent.waitFor((event) => event.event === 'sent', 'the send to return');
    assert.equal((await agent.stats())['link.drop.link-down'], before + 1, 'a frame to a deleted tap is dropped as link-down');
  });

  test('closing the link after that is clean', async () => {
    const agent = suite.agent();
    await agent.close();
    assert.equal(await agent.exited, 0);
  });
});
