/**
 * The command line of SPEC section 2, parsed with commander:
 *
 *   piwire [run] [--config FILE] [--link SPEC] [--ip CIDR|dhcp] [--gateway IP]
 *          [--mac MAC] [--mtu N] [--leds virtual|gpio|sysfs] [--i2c sim|BUSNUMBER]
 *          [--state-dir DIR] [--log json|pretty] [--diag] [--pcap FILE]
 *   piwire hash-secret
 *   piwire shell HOST [PORT] [--user U] [--secret-file F] [-c COMMAND]
 *
 * `parseCommandLine` never exits the process and never prints: it returns what to do
 * (`help` and `version` carry their text) or throws `CliError`, and main prints and
 * exits (status 2 for a CliError, like a ConfigError). Each `run` flag sets one
 * configuration key (`FLAG_KEYS` in config/load.ts) and is checked by the same schema as
 * the file, so `--mtu abc` and `"mtu": "abc"` are refused in the same words.
 */
import { Command, CommanderError, Option } from 'commander';
import { checkConfigValue } from './config/describe.ts';
import { FLAG_KEYS, type CliFlags } from './config/load.ts';
import { LED_DRIVERS, LOG_FORMATS } from './config/schema.ts';

export type { CliFlags } from './config/load.ts';

/** The remote shell's plain port (SPEC section 5), the client's default. */
export const DEFAULT_SHELL_PORT = 2323;

export type ParsedCommand =
  | { command: 'run'; flags: CliFlags; configFile?: string }
  | { command: 'hash-secret' }
  | { command: 'shell'; host: string; port: number; user?: string; secretFile?: string; execute?: string }
  | { command: 'help'; text: string }
  | { command: 'version'; text: string };

/** A command line that cannot be run: unknown flag, bad value, missing argument. Exit status 2. */
export class CliError extends Error {
  /** The flag or argument at fault (`--mtu`, `PORT`), when there is one. */
  readonly flag: string | undefined;
  readonly exitCode = 2;
  constructor(message: string, flag?: string) {
    super(message);
    this.name = 'CliError';
    this.flag = flag;
  }
}

export interface ParseOptions {
  /** Enables `--version`; main passes package.json's version. */
  version?: string;
}

/** Digits become a number, so `--mtu 1500` is checked like `"mtu": 1500` and `--mtu abc` like `"mtu": "abc"`. */
function numberIfDigits(text: string): number | string {
  return /^[0-9]{1,9}$/.test(text) ? Number(text) : text;
}

/** An argParser that converts a flag's text and checks it against its configuration key. */
function configFlag(name: Exclude<keyof CliFlags, 'diag'>, convert: (text: string) => unknown = (text) => text) {
  const { key, flag } = FLAG_KEYS[name];
  return (text: string): unknown => {
    const value = convert(text);
    const checked = checkConfigValue(key, value);
    if (!checked.ok) throw new CliError(`${flag}: ${checked.message} (sets ${key})`, flag);
    return value;
  };
}

function parsePort(text: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new CliError(`PORT: must be an integer between 1 and 65535 (got ${JSON.stringify(text)})`, 'PORT');
  return port;
}

function parseHost(text: string): string {
  if (text.length === 0 || /[\s/]/.test(text)) throw new CliError(`HOST: must be a host name or IPv4 address (got ${JSON.stringify(text)})`, 'HOST');
  return text;
}

function nonEmpty(flag: string) {
  return (text: string): string => {
    if (text.length === 0) throw new CliError(`${flag}: must not be empty`, flag);
    return text;
  };
}

/** What commander hands the `run` action: the flags, and the file they are laid over. */
type RunOptions = CliFlags & { config?: string };

interface ShellOptions {
  user?: string;
  secretFile?: string;
  command?: string;
}

function buildProgram(output: string[], options: ParseOptions, done: (command: ParsedCommand) => void): Command {
  const program = new Command('piwire')
    .description('Networking firmware for the Raspberry Pi with its own user-space TCP/IP stack.')
    .usage('[run] [options]\n       piwire hash-secret\n       piwire shell HOST [PORT] [--user U] [--secret-file F] [-c COMMAND]')
    // Set before the subcommands are made, which inherit both.
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.push(text), writeErr: (text) => output.push(text) });
  if (options.version !== undefined) program.version(options.version, '-V, --version', 'print the version and exit');

  const run = program
    .command('run', { isDefault: true })
    .description('run the firmware (the default command; with no flags on a machine that is not a configured Pi: the simulated board)')
    .option('--config <file>', 'JSON configuration file; flags win over it', nonEmpty('--config'))
    .option('--link <spec>', 'link: packet:IFNAME, tap:NAME, ip:IFNAME (IP mode, Wi-Fi) or sim (sets link)', configFlag('link'))
    .option('--ip <cidr|dhcp>', 'device address, like 198.18.0.2/24, or dhcp (sets net.ip)', configFlag('ip'))
    .option('--gateway <ip>', 'default router (sets net.gateway)', configFlag('gateway'))
    .option('--mac <mac>', 'device MAC address (sets net.mac)', configFlag('mac'))
    .option('--mtu <n>', 'IP MTU of the link, 296..9000 (sets net.mtu)', configFlag('mtu', numberIfDigits))
    .addOption(
      new Option('--leds <driver>', 'LED driver (sets leds.driver)').choices(LED_DRIVERS).argParser(configFlag('leds')),
    )
    .option('--i2c <bus>', 'local I2C sensors: sim, sim:FILE, none or a bus number (sets i2c.bus)', configFlag('i2c', numberIfDigits))
    .option('--state-dir <dir>', 'state directory: readings log, certificate (sets stateDir)', configFlag('stateDir'))
    .addOption(new Option('--log <format>', 'log line format (sets log.format)').choices(LOG_FORMATS).argParser(configFlag('log')))
    .option('--diag', 'serve echo (7), discard (9) and chargen (19) (sets services.diag)')
    .option('--pcap <file>', 'capture every frame in and out to this pcap file (sets pcap)', configFlag('pcap'))
    .action((runOptions: RunOptions) => {
      const { config, ...rest } = runOptions;
      const flags: CliFlags = {};
      for (const name of Object.keys(FLAG_KEYS) as (keyof CliFlags)[]) {
        if (rest[name] !== undefined) Object.assign(flags, { [name]: rest[name] });
      }
      done(config === undefined ? { command: 'run', flags } : { command: 'run', flags, configFile: config });
    });

  program
    .command('hash-secret')
    .description('read a secret on stdin and print its stored form for services.shell.users')
    .action(() => done({ command: 'hash-secret' }));

  program
    .command('shell')
    .description('remote-shell client (challenge-response login); with -c run one command and exit non-zero if it failed')
    .argument('<host>', 'device address or host name', parseHost)
    .argument('[port]', `shell port (default ${DEFAULT_SHELL_PORT})`, parsePort)
    .option('--user <name>', 'user name to log in as', nonEmpty('--user'))
    .option('--secret-file <file>', 'read the secret from this file instead of prompting', nonEmpty('--secret-file'))
    .option('-c, --command <command>', 'run one command, print its output, exit', nonEmpty('-c'))
    .action((host: string, port: number | undefined, shellOptions: ShellOptions) => {
      const parsed: ParsedCommand = { command: 'shell', host, port: port ?? DEFAULT_SHELL_PORT };
      if (shellOptions.user !== undefined) parsed.user = shellOptions.user;
      if (shellOptions.secretFile !== undefined) parsed.secretFile = shellOptions.secretFile;
      if (shellOptions.command !== undefined) parsed.execute = shellOptions.command;
      done(parsed);
    });

  // The top-level help would only list the commands; the flags people look for are run's.
  program.addHelpText('after', () => `\nOptions of run (the default command):\n${optionsSection(run)}`);
  return program;
}

/** The options table commander prints for a command, without its usage line. */
function optionsSection(command: Command): string {
  const help = command.createHelp();
  const width = help.padWidth(command, help);
  return help
    .visibleOptions(command)
    .map((option) => help.formatItem(help.optionTerm(option), width, help.optionDescription(option), help))
    .join('\n');
}

const COMMANDS: ReadonlySet<string> = new Set(['run', 'hash-secret', 'shell', 'help']);

/** Commander's own codes for "the output is the answer": help and version. */
const HELP_CODES: ReadonlySet<string> = new Set(['commander.helpDisplayed', 'commander.help']);

/**
 * Parses the user's arguments (`process.argv.slice(2)`). Returns what to do, or
 * throws `CliError` for a command line that cannot run.
 */
export function parseCommandLine(argv: readonly string[], options: ParseOptions = {}): ParsedCommand {
  // Without this, `piwire stat` would be read as an argument of the default command
  // and refused as "too many arguments for 'run'".
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-') && !COMMANDS.has(first)) {
    throw new CliError(`unknown command '${first}' (commands: ${[...COMMANDS].join(', ')})`);
  }
  const output: string[] = [];
  let parsed: ParsedCommand | undefined;
  const program = buildProgram(output, options, (command) => {
    parsed = command;
  });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (!(error instanceof CommanderError)) throw error;
    if (HELP_CODES.has(error.code)) return { command: 'help', text: output.join('') };
    if (error.code === 'commander.version') return { command: 'version', text: output.join('').trim() };
    throw new CliError(error.message.replace(/^error: /, ''), flagInMessage(error.message));
  }
  if (!parsed) throw new CliError('no command to run');
  return parsed;
}

/** The flag or argument commander's message is about (`unknown option '--bogus'`, `missing required argument 'host'`). */
function flagInMessage(message: string): string | undefined {
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (option !== undefined) return option;
  return /argument '([a-z]+)'/.exec(message)?.[1]?.toUpperCase();
}
