import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { escapeIac, Telnet, TelnetFilter, TelnetOption } from '../../../src/services/shell/telnet.ts';

const { IAC, DO, DONT, WILL, WONT, SB, SE } = Telnet;
const TERMINAL_TYPE = 24;
const LINEMODE = 34;

describe('telnet filter', () => {
  it('passes plain data through untouched and answers nothing', () => {
    const filter = new TelnetFilter();
    const out = filter.input(Buffer.from('status --json\r\n'));
    assert.equal(Buffer.from(out.data).toString(), 'status --json\r\n');
    assert.equal(out.reply.length, 0);
    assert.equal(filter.negotiating, false);
  });

  it('strips what Debian telnet sends and refuses all but SGA', () => {
    const filter = new TelnetFilter();
    const out = filter.input(Uint8Array.from([
      IAC, DO, TelnetOption.SUPPRESS_GO_AHEAD, IAC, WILL, TERMINAL_TYPE, IAC, WILL, LINEMODE,
      IAC, DO, TelnetOption.ECHO, IAC, WILL, TelnetOption.SUPPRESS_GO_AHEAD, 0x68, 0x69,
    ]));
    assert.equal(Buffer.from(out.data).toString(), 'hi');
    assert.deepEqual([...out.reply], [
      IAC, WILL, TelnetOption.SUPPRESS_GO_AHEAD, IAC, DONT, TERMINAL_TYPE, IAC, DONT, LINEMODE,
      IAC, WONT, TelnetOption.ECHO, IAC, DO, TelnetOption.SUPPRESS_GO_AHEAD,
    ]);
    assert.equal(filter.negotiating, true);
  });

  it('does not answer a request for a state already in effect (no loops)', () => {
    const filter = new TelnetFilter();
    filter.input(Uint8Array.from([IAC, DO, TelnetOption.SUPPRESS_GO_AHEAD]));
    assert.equal(filter.input(Uint8Array.from([IAC, DO, TelnetOption.SUPPRESS_GO_AHEAD])).reply.length, 0);
    assert.equal(filter.input(Uint8Array.from([IAC, WONT, LINEMODE])).reply.length, 0);
    assert.deepEqual([...filter.input(Uint8Array.from([IAC, DONT, TelnetOption.SUPPRESS_GO_AHEAD])).reply], [IAC, WONT, TelnetOption.SUPPRESS_GO_AHEAD]);
  });

  it('skips subnegotiations and other commands, keeps IAC IAC as 255, across chunk boundaries', () => {
    const filter = new TelnetFilter();
    const a = filter.input(Uint8Array.from([0x61, IAC, SB, TERMINAL_TYPE, 0, 0x78, IAC]));
    const b = filter.input(Uint8Array.from([IAC, 0x79, IAC, SE, 0x62, IAC, Telnet.NOP, IAC]));
    const c = filter.input(Uint8Array.from([IAC, 0x63, IAC]));
    const d = filter.input(Uint8Array.from([DO]));
    const e = filter.input(Uint8Array.from([TERMINAL_TYPE]));
    assert.deepEqual([...a.data, ...b.data, ...c.data, ...d.data, ...e.data], [0x61, 0x62, 255, 0x63]);
    assert.deepEqual([...e.reply], [IAC, WONT, TERMINAL_TYPE]);
  });

  it('CR NUL is a bare CR', () => {
    const filter = new TelnetFilter();
    assert.deepEqual([...filter.input(Uint8Array.from([0x61, 13])).data], [0x61, 13]);
    assert.deepEqual([...filter.input(Uint8Array.from([0, 0x62])).data], [0x62]);
  });

  it('escapeIac doubles 255 in output', () => {
    assert.deepEqual([...escapeIac(Uint8Array.from([1, 255, 2]))], [1, 255, 255, 2]);
    const plain = Uint8Array.from([1, 2]);
    assert.equal(escapeIac(plain), plain);
  });
});
