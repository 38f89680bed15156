import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionTable } from '../../src/tcp/demux.ts';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import { parseIpv4 } from '../../src/net/address.ts';

/** The table reads only the 4-tuple's remote half and the local port. */
function entry(localPort: number, remoteAddress: string, remotePort: number): TcpConnection {
  return { localPort, remoteAddress: parseIpv4(remoteAddress)!, remotePort } as unknown as TcpConnection;
}

describe('ConnectionTable lookup and its last-hit memory', () => {
  it('finds each connection by its own tuple, however lookups alternate', () => {
    const table = new ConnectionTable();
    // Addresses above 2^31 (the key is a heap number there) and tuples differing in one field only.
    const a = entry(9, '198.18.0.1', 40000);
    const b = entry(9, '198.18.0.1', 40001);
    const c = entry(19, '198.18.0.1', 40000);
    const d = entry(9, '203.0.113.7', 40000);
    for (const connection of [a, b, c, d]) table.insert(connection);
    for (const [connection, times] of [[a, 3], [b, 1], [a, 1], [c, 2], [d, 1], [b, 2]] as const) {
      for (let i = 0; i < times; i++) assert.equal(table.lookup(connection.localPort, connection.remoteAddress, connection.remotePort), connection);
    }
    assert.equal(table.lookup(9, parseIpv4('198.18.0.1')!, 40002), undefined);
    assert.equal(table.lookup(10, parseIpv4('198.18.0.1')!, 40000), undefined);
  });

  it('forgets a removed connection even when it was the last one found', () => {
    const table = new ConnectionTable();
    const a = entry(9, '198.18.0.1', 40000);
    table.insert(a);
    assert.equal(table.lookup(9, a.remoteAddress, 40000), a);
    table.remove(a);
    assert.equal(table.lookup(9, a.remoteAddress, 40000), undefined);
    assert.equal(table.size, 0);
  });

  it('finds the new connection of a reused tuple, not the last one found under it', () => {
    const table = new ConnectionTable();
    const old = entry(9, '198.18.0.1', 40000);
    table.insert(old);
    assert.equal(table.lookup(9, old.remoteAddress, 40000), old);
    // A new incarnation inserted over the old one's tuple (the table holds one per tuple).
    const fresh = entry(9, '198.18.0.1', 40000);
    table.insert(fresh);
    assert.equal(table.lookup(9, old.remoteAddress, 40000), fresh);
    // Removing the replaced one changes nothing: it is no longer the one held.
    table.remove(old);
    assert.equal(table.lookup(9, old.remoteAddress, 40000), fresh);
  });
});
