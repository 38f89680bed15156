import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CliError, DEFAULT_SHELL_PORT, parseCommandLine, type ParsedCommand } from '../../firmware/cli.ts';
import { FLAG_KEYS, loadConfig } from '../../firmware/config/load.ts';

/** The CliError a command line throws; fails the test if it parses. */
function cliError(argv: string[]): CliError {
  try {
    const parsed = parseCommandLine(argv);
    assert.fail(`expected a CliError for ${JSON.stringify(argv)}, got ${JSON.stringify(parsed)}`);
  } catch (error) {
    assert.ok(error instanceof CliError, `expected CliError, got ${String(error)}`);
    return error;
  }
}

function helpText(argv: string[]): string {
  const parsed = parseCommandLine(argv);
  assert.equal(parsed.command, 'help');
  return (parsed as Extract<ParsedCommand, { command: 'help' }>).text;
}

describe('parseCommandLine: run', () => {
  it('runs with no arguments (the simulated board by default)', () => {
    assert.deepEqual(parseCommandLine([]), { command: 'run', flags: {} });
    assert.deepEqual(parseCommandLine(['run']), { command: 'run', flags: {} });
  });

  it('parses every run flag, with or without the run word', () => {
    const argv = [
      '--config', '/etc/piwire/config.json',
      '--link', 'packet:eth0',
      '--ip', '198.18.0.2/24',
      '--gateway', '198.18.0.1',
      '--mac', '02:00:5e:12:00:02',
      '--mtu', '576',
      '--leds', 'sysfs',
      '--i2c', '1',
      '--state-dir', '/var/lib/piwire',
      '--log', 'pretty',
      '--diag',
      '--pcap', '/tmp/device.pcap',
    ];
    const expected: ParsedCommand = {
      command: 'run',
      configFile: '/etc/piwire/config.json',
      flags: {
        link: 'packet:eth0',
        ip: '198.18.0.2/24',
        gateway: '198.18.0.1',
        mac: '02:00:5e:12:00:02',
        mtu: 576,
        leds: 'sysfs',
        i2c: 1,
        stateDir: '/var/lib/piwire',
        log: 'pretty',
        diag: true,
        pcap: '/tmp/device.pcap',
      },
    };
    assert.deepEqual(parseCommandLine(argv), expected);
    assert.deepEqual(parseCommandLine(['run', ...argv]), expected);
  });

  it('accepts --flag=value and the other value forms', () => {
    assert.deepEqual(parseCommandLine(['--mtu=1500', '--ip=dhcp', '--i2c', 'sim:/tmp/bme.txt', '--link', 'tap:pw0']), {
      command: 'run',
      flags: { mtu: 1500, ip: 'dhcp', i2c: 'sim:/tmp/bme.txt', link: 'tap:pw0' },
    });
    assert.deepEqual(parseCommandLine(['--i2c', 'sim', '--link', 'sim']), { command: 'run', flags: { i2c: 'sim', link: 'sim' } });
  });

  it('flags feed loadConfig and land on their keys', () => {
    const parsed = parseCommandLine(['--mtu', '296', '--ip', '198.18.0.2/24', '--gateway', '198.18.0.1', '--leds', 'gpio', '--diag']);
    assert.equal(parsed.command, 'run');
    if (parsed.command !== 'run') return;
    const config = loadConfig({ flags: parsed.flags, defaultStateDir: '/s', stdoutIsTty: false });
    assert.equal(config.net.mtu, 296);
    assert.equal(config.net.ip, '198.18.0.2/24');
    assert.equal(config.net.gateway, '198.18.0.1');
    assert.equal(config.leds.driver, 'gpio');
    assert.equal(config.services.diag, true);
  });

  it('refuses a bad flag value with a message naming the flag and the key', () => {
    const cases: [string[], string, RegExp][] = [
      [['--mtu', 'abc'], '--mtu', /^--mtu: must be an integer between 296 and 9000 \(got "abc"\) \(sets net\.mtu\)$/],
      [['--mtu', '100'], '--mtu', /^--mtu: must be an integer between 296 and 9000 \(got 100\)/],
      [['--ip', '1.2.3'], '--ip', /^--ip: must be "dhcp" or a unicast IPv4 address/],
      [['--gateway', '300.1.1.1'], '--gateway', /^--gateway: must be a unicast IPv4 address/],
      [['--mac', 'zz:00:00:00:00:00'], '--mac', /^--mac: must be a unicast MAC address/],
      [['--link', 'eth0'], '--link', /^--link: must be packet:IFNAME, tap:NAME, ip:IFNAME or sim/],
      [['--leds', 'blink'], '--leds', /^--leds: must be one of virtual, gpio, sysfs \(got "blink"\)/],
      [['--i2c', 'bus1'], '--i2c', /^--i2c: must be sim, sim:FILE/],
      [['--log', 'xml'], '--log', /^--log: must be one of json, pretty/],
      [['--state-dir', ''], '--state-dir', /^--state-dir: must be a file system path/],
      [['--config', ''], '--config', /^--config: must not be empty/],
    ];
    for (const [argv, flag, message] of cases) {
      const error = cliError(argv);
      assert.equal(error.flag, flag, argv.join(' '));
      assert.match(error.message, message, argv.join(' '));
      assert.equal(error.exitCode, 2);
    }
  });

  it('refuses unknown options, a missing value, extra arguments and unknown commands', () => {
    assert.equal(cliError(['--bogus']).flag, '--bogus');
    assert.match(cliError(['--bogus']).message, /unknown option '--bogus'/);
    assert.equal(cliError(['--mtu']).flag, '--mtu');
    assert.match(cliError(['--mtu']).message, /argument missing/);
    assert.match(cliError(['run', 'extra']).message, /too many arguments/);
    assert.match(cliError(['stauts']).message, /^unknown command 'stauts' \(commands: run, hash-secret, shell, help\)$/);
  });
});

describe('parseCommandLine: hash-secret and shell', () => {
  it('hash-secret takes no arguments', () => {
    assert.deepEqual(parseCommandLine(['hash-secret']), { command: 'hash-secret' });
    assert.match(cliError(['hash-secret', 'my-password']).message, /too many arguments/);
  });

  it('shell HOST defaults to the plain shell port', () => {
    assert.deepEqual(parseCommandLine(['shell', 'localhost']), { command: 'shell', host: 'localhost', port: DEFAULT_SHELL_PORT });
    assert.equal(DEFAULT_SHELL_PORT, 2323);
  });

  it('shell HOST PORT with --user, --secret-file and -c', () => {
    assert.deepEqual(parseCommandLine(['shell', '198.18.0.2', '2324', '--user', 'ops', '--secret-file', '/root/secret', '-c', 'conns --json']), {
      command: 'shell',
      host: '198.18.0.2',
      port: 2324,
      user: 'ops',
      secretFile: '/root/secret',
      execute: 'conns --json',
    });
    assert.equal((parseCommandLine(['shell', 'pi', '--command', 'status']) as { execute?: string }).execute, 'status');
  });

  it('refuses a missing host and a bad port', () => {
    const missing = cliError(['shell']);
    assert.equal(missing.flag, 'HOST');
    assert.match(missing.message, /missing required argument 'host'/);
    for (const port of ['0', '65536', 'http', '-1']) {
      const error = cliError(['shell', 'pi', port]);
      assert.equal(error.flag, 'PORT', port);
    }
    assert.match(cliError(['shell', 'pi', '70000']).message, /^PORT: must be an integer between 1 and 65535 \(got "70000"\)$/);
    assert.equal(cliError(['shell', 'pi', '--user', '']).flag, '--user');
  });
});

describe('parseCommandLine: help and version', () => {
  it('--help lists every flag of run and every command, without exiting', () => {
    const text = helpText(['--help']);
    for (const { flag } of Object.values(FLAG_KEYS)) assert.ok(text.includes(flag), `help mentions ${flag}`);
    for (const word of ['--config', 'hash-secret', 'shell', 'HOST [PORT]', '--user', '--secret-file', '-c COMMAND', 'virtual', 'gpio', 'sysfs', 'json', 'pretty']) {
      assert.ok(text.includes(word), `help mentions ${word}`);
    }
  });

  it('help is also reachable as -h, the help command, and per command', () => {
    assert.equal(helpText(['-h']), helpText(['--help']));
    assert.equal(helpText(['help']), helpText(['--help']));
    const shellHelp = helpText(['shell', '--help']);
    assert.match(shellHelp, /Usage: piwire shell \[options\] <host> \[port\]/);
    assert.match(shellHelp, /--secret-file <file>/);
    assert.equal(helpText(['help', 'shell']), shellHelp);
    assert.match(helpText(['run', '--help']), /--state-dir <dir>/);
  });

  it('--version prints the version it was given', () => {
    assert.deepEqual(parseCommandLine(['--version'], { version: '1.2.3' }), { command: 'version', text: '1.2.3' });
    assert.deepEqual(parseCommandLine(['-V'], { version: '1.2.3' }), { command: 'version', text: '1.2.3' });
    assert.match(cliError(['--version']).message, /unknown option '--version'/, 'no version, no flag');
  });
});
