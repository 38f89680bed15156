/**
 * The DHCP and Wi-Fi (IP mode) example configurations in deploy/ load as they are, and
 * `--link ip:IFNAME` parses like the other links.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../firmware/config/load.ts';
import { Feature, usedFeatures } from '../../firmware/config/features.ts';
import { parseLinkSpec } from '../../firmware/link.ts';

const example = (name: string): string => fileURLToPath(new URL(`../../deploy/${name}`, import.meta.url));

describe('example configurations for DHCP and IP mode', () => {
  it('config.dhcp.example.json: a frame link with net.ip "dhcp"', () => {
    const config = loadConfig({ file: example('config.dhcp.example.json'), flags: {}, stdoutIsTty: false });
    assert.equal(config.net.ip, 'dhcp');
    assert.equal(config.link, 'packet:piwire0');
    assert.ok(usedFeatures(config).includes(Feature.DHCP));
  });

  it('config.wifi.example.json: IP mode on wlan0, no static address', () => {
    const config = loadConfig({ file: example('config.wifi.example.json'), flags: {}, stdoutIsTty: false });
    assert.equal(config.link, 'ip:wlan0');
    assert.equal(config.net.ip, undefined);
    assert.ok(usedFeatures(config).includes(Feature.LINK_IP));
  });

  it('parses ip:IFNAME and refuses a bad interface name', () => {
    assert.deepEqual(parseLinkSpec('ip:wlan0'), { kind: 'ip', interfaceName: 'wlan0' });
    assert.equal(parseLinkSpec('ip:'), undefined);
    assert.equal(parseLinkSpec('ip:a/b'), undefined);
    assert.equal(parseLinkSpec('ip:sixteen-chars-xx'), undefined);
  });
});
