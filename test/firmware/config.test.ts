import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../firmware/config/errors.ts';
import { checkConfigValue, describeConfig } from '../../firmware/config/describe.ts';
import { defaultStateDir, loadConfig, type CliFlags } from '../../firmware/config/load.ts';
import { Feature, unavailableFeatures, usedFeatures } from '../../firmware/config/features.ts';
import { tcpSettings, type ResolvedConfig } from '../../firmware/config/schema.ts';
import { defaultTcpConfig, type TcpConfig } from '../../src/tcp/config.ts';
import { parseLinkSpec } from '../../firmware/link.ts';
import { parseI2cSpec } from '../../firmware/i2c.ts';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../firmware/units.ts';

const EXAMPLE_FILE = fileURLToPath(new URL('../../deploy/config.example.json', import.meta.url));

let directory = '';
before(() => {
  directory = mkdtempSync(join(tmpdir(), 'piwire-config-'));
});
after(() => {
  rmSync(directory, { recursive: true, force: true });
});

let fileCounter = 0;
function writeConfig(content: unknown): string {
  fileCounter += 1;
  const file = join(directory, `config-${fileCounter}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Loads with machine-dependent defaults pinned, so results do not depend on the host. */
function load(content: unknown, flags: CliFlags = {}): ResolvedConfig {
  return loadConfig({ file: writeConfig(content), flags, defaultStateDir: '/srv/state', stdoutIsTty: false, cwd: '/work/here' });
}

/** The ConfigError a load throws; fails the test if it does not throw one. */
function loadError(content: unknown, flags: CliFlags = {}): ConfigError {
  try {
    load(content, flags);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(content)}`);
}

function flattenKeys(value: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    typeof child === 'object' && child !== null && !Array.isArray(child) && key !== 'users'
      ? flattenKeys(child as Record<string, unknown>, `${prefix}${key}.`)
      : [`${prefix}${key}`],
  );
}

describe('loadConfig: defaults and forms', () => {
  it('fills every default when there is no file and no flag', () => {
    const config = loadConfig({ flags: {}, defaultStateDir: '/srv/state', stdoutIsTty: false });
    assert.deepEqual(config, {
      net: { mtu: 1500, segmentOffload: true, receiveOffload: true },
      link: 'sim',
      tcp: {
        keepalive: { idle: 10_000, interval: 2_000, count: 3 },
        userTimeout: 30_000,
        persist: { max: 60_000 },
        msl: 5_000,
        rcvBuf: 16_384,
        sndBuf: 16_384,
        minRto: 200,
        maxConnections: 1024,
        synBacklog: 128,
        finTimeout: 60_000,
        orphanRetries: 8,
        sack: true,
        mtuProbing: true,
        rack: true,
        congestion: 'cubic',
        prr: true,
        recoveryProbe: true,
        tlpFollowUp: true,
        frto: true,
        lossProbeNewData: false,
        ptoFloor: true,
        windowScale: true,
        timestamps: true,
        maxBuf: 4 * 1024 * 1024,
        bufferBudget: 32 * 1024 * 1024,
      },
      services: {
        sensors: { port: 7070, maxLine: 512, rateLimit: { rate: 1000, burst: 2000 } },
        shell: { port: 2323, tlsPort: 2324, users: {} },
        diag: false,
        diagBuffer: 256 * 1024,
        http: { port: 8080, enabled: false },
      },
      store: { commitMs: 50, maxBytes: 64 * 1024 * 1024 },
      leds: { driver: 'virtual', status: 17, link: 27, fault: 22, mirrorAct: false, sysfsRoot: '/sys/class/leds' },
      i2c: { bus: 'sim' },
      stateDir: '/srv/state',
      log: { format: 'json', level: 'info' },
    });
  });

  it('the tcp.* defaults are the stack\'s own (one source: defaultTcpConfig)', () => {
    const config = loadConfig({ flags: {}, defaultStateDir: '/srv/state', stdoutIsTty: false });
    const stack = defaultTcpConfig(config.net.mtu - 40);
    const settings = tcpSettings(config.tcp);
    for (const [name, value] of Object.entries(settings)) {
      assert.deepEqual(value, stack[name as keyof TcpConfig], `tcp setting ${name}`);
    }
    // Every key maps onto a stack setting: none is silently dropped.
    assert.deepEqual(Object.keys(settings).sort(), ['bufferBudget', 'congestion', 'finTimeout', 'frto', 'keepalive', 'lossProbeNewData', 'maxBuf', 'maxConnections', 'minRto', 'msl', 'mtuProbing', 'orphanRetries', 'persistMax', 'prr', 'ptoFloor', 'rack', 'rcvBuf', 'recoveryProbe', 'sack', 'sndBuf', 'synBacklog', 'timestamps', 'tlpFollowUp', 'userTimeout', 'windowScale']);
  });

  it('maps the tcp.* keys onto the stack\'s settings, keepalive always on', () => {
    const config = load({ tcp: { keepalive: { idle: '1m', count: 5 }, persist: { max: '5s' }, rcvBuf: '64KiB' } });
    const settings = tcpSettings(config.tcp);
    assert.deepEqual(settings.keepalive, { enabled: true, idle: 60_000, interval: 2_000, count: 5 });
    assert.equal(settings.persistMax, 5_000);
    assert.equal(settings.rcvBuf, 64 * 1024);
  });

  it('an empty file gives the same defaults as no file', () => {
    assert.deepEqual(load({}), loadConfig({ flags: {}, defaultStateDir: '/srv/state', stdoutIsTty: false }));
  });

  it('reads the nested form and resolves durations to ms and sizes to bytes', () => {
    const config = load({
      net: { mtu: 576, ip: '198.18.0.2/24', gateway: '198.18.0.1', mac: '02-00-5E-12-00-0A' },
      link: 'tap:pw0',
      tcp: {
        keepalive: { idle: '1m', interval: 500, count: 5 },
        userTimeout: '1.5s',
        persist: { max: '2m' },
        msl: '250ms',
        rcvBuf: '1MiB',
        sndBuf: 4096,
        minRto: '1s',
      },
      store: { commitMs: 0, maxBytes: '100MB' },
      services: { shell: { users: { admin: 'scrypt$16384$8$1$c2FsdA$a2V5' } }, diag: true },
    });
    assert.equal(config.net.mtu, 576);
    assert.equal(config.net.ip, '198.18.0.2/24');
    assert.equal(config.net.gateway, '198.18.0.1');
    assert.equal(config.net.mac, '02:00:5e:12:00:0a', 'MAC normalized to lower case with colons');
    assert.equal(config.link, 'tap:pw0');
    assert.deepEqual(config.tcp.keepalive, { idle: 60_000, interval: 500, count: 5 });
    assert.equal(config.tcp.userTimeout, 1_500);
    assert.equal(config.tcp.persist.max, 120_000);
    assert.equal(config.tcp.msl, 250);
    assert.equal(config.tcp.rcvBuf, 1_048_576);
    assert.equal(config.tcp.sndBuf, 4096);
    assert.equal(config.tcp.minRto, 1_000);
    assert.equal(config.tcp.maxConnections, 1024, 'untouched keys keep their default');
    assert.equal(config.store.commitMs, 0);
    assert.equal(config.store.maxBytes, 100_000_000);
    assert.deepEqual(config.services.shell.users, { admin: 'scrypt$16384$8$1$c2FsdA$a2V5' });
    assert.equal(config.services.diag, true);
  });

  it('command-line flags win over the file', () => {
    const config = load(
      { net: { mtu: 1500, ip: '198.18.0.2/24' }, link: 'tap:pw0', leds: { driver: 'sysfs' }, log: { format: 'json' } },
      { mtu: 576, link: 'sim', ip: 'dhcp', leds: 'virtual', log: 'pretty', diag: true, i2c: 1 },
    );
    assert.equal(config.net.mtu, 576);
    assert.equal(config.link, 'sim');
    assert.equal(config.net.ip, 'dhcp');
    assert.equal(config.leds.driver, 'virtual');
    assert.equal(config.log.format, 'pretty');
    assert.equal(config.services.diag, true);
    assert.equal(config.i2c.bus, 1);
  });

  it('chooses the log format from the terminal when nothing sets it', () => {
    assert.equal(loadConfig({ flags: {}, stdoutIsTty: true, defaultStateDir: '/s' }).log.format, 'pretty');
    assert.equal(loadConfig({ flags: {}, stdoutIsTty: false, defaultStateDir: '/s' }).log.format, 'json');
    assert.equal(loadConfig({ flags: { log: 'json' }, stdoutIsTty: true, defaultStateDir: '/s' }).log.format, 'json');
  });

  it('resolves relative paths in the file against its directory, and in flags against the working directory', () => {
    const fromFile = load({ stateDir: 'state', services: { shell: { cert: 'tls/cert.pem', key: '/etc/piwire/key.pem' } }, i2c: { bus: 'sim:dumps/bme.txt' } });
    assert.equal(fromFile.stateDir, join(directory, 'state'));
    assert.equal(fromFile.services.shell.cert, join(directory, 'tls/cert.pem'));
    assert.equal(fromFile.services.shell.key, '/etc/piwire/key.pem', 'absolute paths stay as they are');
    assert.equal(fromFile.i2c.bus, `sim:${join(directory, 'dumps/bme.txt')}`);

    const fromFlags = load({ stateDir: 'state' }, { stateDir: 'var/state', i2c: 'sim:bme.txt' });
    assert.equal(fromFlags.stateDir, '/work/here/var/state');
    assert.equal(fromFlags.i2c.bus, 'sim:/work/here/bme.txt');

    assert.equal(load({ pcap: 'captures/device.pcap' }).pcap, join(directory, 'captures/device.pcap'));
    assert.equal(load({}, { pcap: 'device.pcap' }).pcap, '/work/here/device.pcap');
    assert.equal(load({}).pcap, undefined, 'no capture unless asked for');
  });

  it('accepts i2c bus numbers, their digits, sim and none', () => {
    assert.equal(load({ i2c: { bus: 1 } }).i2c.bus, 1);
    assert.equal(load({ i2c: { bus: '22' } }).i2c.bus, 22);
    assert.equal(load({ i2c: { bus: 'none' } }).i2c.bus, 'none');
    assert.equal(load({ i2c: { bus: 'sim' } }).i2c.bus, 'sim');
  });

  it('accepts LED class names for the sysfs driver', () => {
    const config = load({ leds: { driver: 'sysfs', status: 'piwire:status', link: 'piwire:link', fault: 'piwire:fault', mirrorAct: true } });
    assert.equal(config.leds.status, 'piwire:status');
    assert.equal(config.leds.mirrorAct, true);
  });

  it('the resolved configuration is itself a valid configuration file', () => {
    const first = load({ tcp: { keepalive: { idle: '20s' } }, net: { ip: '198.18.0.9/24' } });
    const again = load(first);
    assert.deepEqual(again, first);
  });
});

describe('loadConfig: the example configuration', () => {
  it('loads and equals the defaults for every key that has one', () => {
    const example = loadConfig({ file: EXAMPLE_FILE, flags: {}, stdoutIsTty: false });
    const defaults = loadConfig({ flags: {}, defaultStateDir: '/var/lib/piwire', stdoutIsTty: false });
    assert.deepEqual({ ...example, net: { mtu: example.net.mtu, segmentOffload: example.net.segmentOffload, receiveOffload: example.net.receiveOffload } }, defaults);
  });

  it('lists every key of the schema (cert and key only when a certificate is supplied, pcap only to capture)', () => {
    const written = flattenKeys(JSON.parse(readFileSync(EXAMPLE_FILE, 'utf8')) as Record<string, unknown>).sort();
    const schemaKeys = describeConfig()
      .map((entry) => entry.key)
      // Optional keys that switch something on: the example leaves them out.
      .filter((key) => key !== 'services.shell.cert' && key !== 'services.shell.key' && key !== 'pcap')
      .sort();
    assert.deepEqual(written, schemaKeys);
  });
});

describe('loadConfig: errors name the key and what is allowed', () => {
  it('a bad duration string, in the documented words', () => {
    const error = loadError({ tcp: { keepalive: { idle: 'ten' } } });
    assert.equal(error.message, 'config: tcp.keepalive.idle: must be a duration between 1ms and 2h (got "ten")');
    assert.deepEqual(error.issues.map((issue) => issue.key), ['tcp.keepalive.idle']);
  });

  it('a negative or fractional duration', () => {
    assert.match(loadError({ tcp: { msl: '-1s' } }).message, /^config: tcp\.msl: must be a duration between 1ms and 2m \(got "-1s"\)$/);
    assert.match(loadError({ tcp: { minRto: 0.5 } }).message, /tcp\.minRto: must be a duration/);
  });

  it('an unknown key, with a hint for a likely typo', () => {
    const error = loadError({ tcp: { keepAlive: { idle: '10s' } } });
    assert.equal(error.issues[0]?.key, 'tcp.keepAlive');
    assert.match(error.message, /config: tcp\.keepAlive: unknown key; did you mean tcp\.keepalive\?/);
    assert.match(error.message, /allowed here: keepalive, userTimeout/);
  });

  it('an unknown key at the top level that belongs in a group', () => {
    const error = loadError({ mtu: 1500 });
    assert.match(error.message, /^config: mtu: unknown key; did you mean net\.mtu\?/);
  });

  it('a wrong type for a value and for a group', () => {
    assert.match(loadError({ net: { mtu: '1500' } }).message, /^config: net\.mtu: must be an integer between 296 and 9000 \(got "1500"\)$/);
    assert.match(loadError({ services: { diag: 'yes' } }).message, /^config: services\.diag: must be true or false \(got "yes"\)$/);
    assert.match(loadError({ tcp: 5 }).message, /^config: tcp: must be an object \(got 5\)$/);
    assert.match(loadError({ leds: { driver: 'blink' } }).message, /^config: leds\.driver: must be one of virtual, gpio, sysfs \(got "blink"\)$/);
    assert.match(loadError({ tcp: { congestion: 'vegas' } }).message, /^config: tcp\.congestion: must be one of cubic, reno, bbr \(got "vegas"\)$/);
  });

  it('an out-of-range value', () => {
    assert.match(loadError({ net: { mtu: 9001 } }).message, /config: net\.mtu: must be an integer between 296 and 9000 \(got 9001\)/);
    assert.match(loadError({ net: { mtu: 295 } }).message, /net\.mtu: must be an integer between 296 and 9000 \(got 295\)/);
    assert.match(loadError({ services: { sensors: { port: 0 } } }).message, /services\.sensors\.port: must be an integer between 1 and 65535/);
    assert.match(loadError({ tcp: { keepalive: { count: 0 } } }).message, /tcp\.keepalive\.count: must be an integer between 1 and 127/);
    assert.match(loadError({ services: { sensors: { rateLimit: { rate: 0 } } } }).message, /services\.sensors\.rateLimit\.rate: must be an integer between 1 and 1000000 \(got 0\)/);
    assert.match(loadError({ services: { sensors: { rateLimit: { burst: 2.5 } } } }).message, /services\.sensors\.rateLimit\.burst: must be an integer between 1 and 1000000/);
    assert.match(loadError({ services: { sensors: { rateLimit: { rat: 5 } } } }).message, /services\.sensors\.rateLimit/);
    assert.match(loadError({ tcp: { rcvBuf: '32MiB' } }).message, /tcp\.rcvBuf: must be a size between 1KiB and 16MiB \(got "32MiB"\)/);
  });

  it('a bad size string', () => {
    for (const size of ['16 kib', '12XB', '1.5B', 'lots', '-4KiB']) {
      assert.match(loadError({ tcp: { sndBuf: size } }).message, /^config: tcp\.sndBuf: must be a size between 1KiB and 16MiB/, size);
    }
  });

  it('a bad CIDR', () => {
    for (const ip of ['198.18.0.2', '1.2.3/24', '198.18.0.2/33', '198.18.0.2/0', '224.0.0.5/24', '127.0.0.1/8', 'DHCP']) {
      const error = loadError({ net: { ip } });
      assert.equal(error.issues[0]?.key, 'net.ip', ip);
      assert.match(error.message, /net\.ip: must be "dhcp" or a unicast IPv4 address with prefix length/, ip);
    }
    assert.match(loadError({ net: { ip: '198.18.0.0/24' } }).message, /net\.ip: must be a host address, not the network or broadcast address of \/24/);
    assert.match(loadError({ net: { ip: '198.18.0.255/24' } }).message, /net\.ip: must be a host address/);
  });

  it('a bad MAC', () => {
    for (const mac of ['02:00:00:00:00', '02:00:00:00:00:0g', '01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', 17]) {
      assert.match(loadError({ net: { mac } }).message, /^config: net\.mac: must be a unicast MAC address/, String(mac));
    }
  });

  it('a bad link spec', () => {
    for (const link of ['eth0', 'packet:', 'tap:', 'packet:name-longer-than-15', 'packet:a/b', 'udp:x', 'SIM']) {
      assert.match(loadError({ link }).message, /^config: link: must be packet:IFNAME, tap:NAME, ip:IFNAME or sim/, link);
    }
  });

  it('a bad i2c bus, LED line and shell user', () => {
    assert.match(loadError({ i2c: { bus: 'sim:' } }).message, /i2c\.bus: must be sim, sim:FILE/);
    assert.match(loadError({ i2c: { bus: 2000 } }).message, /i2c\.bus: must be/);
    assert.match(loadError({ leds: { status: 58 } }).message, /leds\.status: must be a BCM GPIO number 0\.\.57/);
    assert.match(loadError({ services: { shell: { users: { 'bad name': 'x' } } } }).message, /services\.shell\.users\.bad name: user name must be/);
    assert.match(loadError({ services: { shell: { users: { ops: '' } } } }).message, /services\.shell\.users\.ops: must be the stored form/);
    assert.match(loadError({ services: { shell: { users: ['ops'] } } }).message, /services\.shell\.users: must be an object mapping user names/);
  });

  it('rules between keys', () => {
    assert.match(loadError({ net: { ip: '198.18.0.2/24', gateway: '198.19.0.1' } }).message, /net\.gateway: must be another address on the subnet of net\.ip 198\.18\.0\.2\/24/);
    assert.match(loadError({ net: { ip: 'dhcp', gateway: '198.18.0.1' } }).message, /net\.gateway: needs a static net\.ip/);
    assert.match(loadError({ services: { shell: { tlsPort: 2323 } } }).message, /services\.shell\.tlsPort: must differ from services\.shell\.port/);
    assert.match(loadError({ services: { diag: true, sensors: { port: 9 } } }).message, /services\.sensors\.port: must not be 9: services\.diag uses it for discard/);
    assert.doesNotThrow(() => load({ services: { diag: false, sensors: { port: 9 } } }), 'port 9 is free without diag');
    assert.match(loadError({ services: { shell: { cert: 'c.pem' } } }).message, /services\.shell\.key: must be set together with services\.shell\.cert/);
    assert.match(loadError({ net: { mtu: 9000 }, tcp: { rcvBuf: '4KiB' } }).message, /tcp\.rcvBuf: must hold at least one segment \(net\.mtu − 40 = 8960 bytes\)/);
    assert.match(loadError({ tcp: { minRto: '2s', persist: { max: '1s' } } }).message, /tcp\.persist\.max: must be at least tcp\.minRto \(2s\)/);
    assert.match(loadError({ leds: { driver: 'gpio', status: 'piwire:status' } }).message, /leds\.status: must be a BCM GPIO number 0\.\.57 with leds\.driver gpio/);
    assert.match(loadError({ leds: { fault: 17 } }).message, /leds\.fault: must differ from leds\.status/);
  });

  it('lists every problem at once, one line each', () => {
    const error = loadError({ net: { mtu: 1 }, link: 'x', tcp: { msl: 'long' }, bogus: true });
    assert.deepEqual(error.issues.map((issue) => issue.key).sort(), ['bogus', 'link', 'net.mtu', 'tcp.msl']);
    assert.equal(error.message.split('\n').length, 4);
  });

  it('names the flag when the bad value came from the command line', () => {
    const error = loadError({ net: { mtu: 1500 } }, { mtu: 100 });
    assert.equal(error.message, 'config: net.mtu (--mtu): must be an integer between 296 and 9000 (got 100)');
    assert.equal(error.issues[0]?.flag, '--mtu');
  });

  it('a file that is not valid JSON names the file', () => {
    const file = writeConfig('{ "net": { "mtu": 1500, } }');
    assert.throws(
      () => loadConfig({ file, flags: {} }),
      (error: unknown) => error instanceof ConfigError && error.issues[0]?.key === file && /not valid JSON/.test(error.message) && error.message.includes(file),
    );
  });

  it('a missing file names the file', () => {
    const file = join(directory, 'does-not-exist.json');
    assert.throws(
      () => loadConfig({ file, flags: {} }),
      (error: unknown) => error instanceof ConfigError && error.message === `config: ${file}: cannot read the configuration file (no such file)`,
    );
  });

  it('an unreadable file (a directory) names the file', () => {
    const path = join(directory, 'a-directory.json');
    mkdirSync(path);
    assert.throws(() => loadConfig({ file: path, flags: {} }), (error: unknown) => error instanceof ConfigError && error.message.startsWith(`config: ${path}: cannot read`));
  });

  it('reads a file that starts with a byte-order mark, and a file named relative to cwd', () => {
    const file = writeConfig('\uFEFF{ "net": { "mtu": 576 } }');
    assert.equal(loadConfig({ file, flags: {} }).net.mtu, 576);
    const relative = file.slice(directory.length + 1);
    const config = loadConfig({ file: relative, cwd: directory, flags: {}, defaultStateDir: '/s' });
    assert.equal(config.net.mtu, 576);
  });

  it('a file that holds something other than an object', () => {
    for (const content of ['[]', '42', 'null', '"net"']) {
      const file = writeConfig(content);
      assert.throws(() => loadConfig({ file, flags: {} }), (error: unknown) => error instanceof ConfigError && /must hold a JSON object/.test(error.message), content);
    }
  });
});

describe('checkConfigValue', () => {
  it('checks one key on its own and returns the resolved value', () => {
    assert.deepEqual(checkConfigValue('net.mtu', 576), { ok: true, value: 576 });
    assert.deepEqual(checkConfigValue('tcp.keepalive.idle', '5s'), { ok: true, value: 5000 });
    assert.deepEqual(checkConfigValue('net.mtu', 'abc'), { ok: false, message: 'must be an integer between 296 and 9000 (got "abc")' });
    assert.equal(checkConfigValue('net.nothing', 1).ok, false);
    assert.equal(checkConfigValue('tcp', {}).ok, false, 'a group is not a key');
  });
});

describe('describeConfig', () => {
  it('describes every key once, with what it allows and its default', () => {
    const keys = describeConfig();
    const names = keys.map((entry) => entry.key);
    assert.equal(new Set(names).size, names.length);
    for (const expected of ['net.mtu', 'tcp.keepalive.idle', 'tcp.persist.max', 'services.shell.users', 'leds.mirrorAct', 'i2c.bus', 'stateDir', 'log.format']) {
      assert.ok(names.includes(expected), expected);
    }
    const idle = keys.find((entry) => entry.key === 'tcp.keepalive.idle');
    assert.deepEqual(idle && { allowed: idle.allowed, defaultValue: idle.defaultValue }, { allowed: 'a duration between 1ms and 2h', defaultValue: '10s' });
    for (const entry of keys) assert.ok(entry.description.length > 0 && entry.allowed.length > 0 && entry.defaultValue.length > 0, entry.key);
  });
});

describe('defaultStateDir', () => {
  it("prefers systemd's STATE_DIRECTORY, then ./state in a checkout, then /var/lib/piwire", () => {
    const checkout = join(directory, 'checkout');
    mkdirSync(join(checkout, '.git'), { recursive: true });
    const installed = join(directory, 'installed');
    mkdirSync(installed, { recursive: true });
    assert.equal(defaultStateDir({ STATE_DIRECTORY: '/var/lib/piwire:/var/lib/other' }, checkout), '/var/lib/piwire');
    assert.equal(defaultStateDir({}, checkout), join(checkout, 'state'));
    assert.equal(defaultStateDir({}, installed), '/var/lib/piwire');
  });
});

describe('parseLinkSpec and parseI2cSpec', () => {
  it('parse the accepted forms', () => {
    assert.deepEqual(parseLinkSpec('packet:eth0'), { kind: 'packet', interfaceName: 'eth0' });
    assert.deepEqual(parseLinkSpec('tap:pw0'), { kind: 'tap', interfaceName: 'pw0' });
    assert.deepEqual(parseLinkSpec('sim'), { kind: 'sim' });
    assert.equal(parseLinkSpec('packet:..'), undefined);
    assert.deepEqual(parseI2cSpec('sim:/tmp/dump.txt'), { kind: 'sim', file: '/tmp/dump.txt' });
    assert.deepEqual(parseI2cSpec(1), { kind: 'bus', busNumber: 1 });
    assert.deepEqual(parseI2cSpec('none'), { kind: 'none' });
    assert.equal(parseI2cSpec(1.5), undefined);
  });
});

describe('unavailableFeatures', () => {
  it('returns the configured features that the build does not implement', () => {
    const config = load({ net: { ip: 'dhcp' }, leds: { driver: 'gpio' }, i2c: { bus: 1 }, services: { diag: true } });
    assert.deepEqual(usedFeatures(config), [
      Feature.LINK_SIM,
      Feature.DHCP,
      Feature.LEDS_GPIO,
      Feature.I2C_BUS,
      Feature.SENSORS,
      Feature.SENSOR_STORE,
      Feature.SHELL,
      Feature.SHELL_TLS,
      Feature.DIAG,
    ]);
    const implemented = new Set([Feature.LINK_SIM, Feature.SENSORS, Feature.SHELL, Feature.DIAG, Feature.LEDS_VIRTUAL]);
    assert.deepEqual(unavailableFeatures(config, implemented), [Feature.DHCP, Feature.LEDS_GPIO, Feature.I2C_BUS, Feature.SENSOR_STORE, Feature.SHELL_TLS]);
  });

  it('is empty when everything used is implemented', () => {
    const config = load({});
    assert.deepEqual(unavailableFeatures(config, new Set(usedFeatures(config))), []);
    assert.ok(usedFeatures(load({ i2c: { bus: 'sim:x.txt' } })).includes(Feature.I2C_REPLAY));
  });
});

describe('units', () => {
  it('parses durations: numbers are ms, strings take a unit', () => {
    assert.equal(parseDuration(250), 250);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('10'), 10);
    for (const bad of ['ten', '-1s', '+1s', '', '1e3', 'Infinity', -5, 1.5, Number.NaN, null, true, {}]) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });

  it('parses sizes: numbers are bytes, strings take B, KiB, MiB, GiB, kB, KB, MB or GB', () => {
    assert.equal(parseSize(512), 512);
    assert.equal(parseSize('512'), 512);
    assert.equal(parseSize('512B'), 512);
    assert.equal(parseSize('16KiB'), 16_384);
    assert.equal(parseSize('16 KiB'), 16_384);
    assert.equal(parseSize('1.5KiB'), 1_536);
    assert.equal(parseSize('1MiB'), 1_048_576);
    assert.equal(parseSize('2GiB'), 2 * 1024 ** 3);
    assert.equal(parseSize('10kB'), 10_000);
    assert.equal(parseSize('10KB'), 10_000);
    assert.equal(parseSize('3MB'), 3_000_000);
    for (const bad of ['16kib', '16 mb', '1.5B', '0.1KiB', 'KiB', '16KiBs', '-1', '1,024', 1.5, -1, '', null]) {
      assert.equal(parseSize(bad), undefined, JSON.stringify(bad));
    }
  });

  it('formats exactly, in the largest unit that divides', () => {
    assert.equal(formatDuration(7_200_000), '2h');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(1_500), '1500ms');
    assert.equal(formatDuration(0), '0ms');
    assert.equal(formatSize(16_384), '16KiB');
    assert.equal(formatSize(64 * 1024 * 1024), '64MiB');
    assert.equal(formatSize(1_000), '1000B');
  });
});
