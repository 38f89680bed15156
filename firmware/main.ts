/**
 * piwire's entry point: the command line picks `run` (the firmware), `hash-secret`
 * or `shell`. Exit status: 0 after a clean shutdown, 2 for a bad command line or
 * configuration (the message names the flag or key), 1 when start-up fails for any
 * other reason (a link that cannot open says why), 70 for an internal error.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError, parseCommandLine } from './cli.ts';
import { ConfigError } from './config/errors.ts';
import { DEFAULT_CONFIG_FILE, loadConfig } from './config/load.ts';
import type { ResolvedConfig } from './config/schema.ts';
import { exposedConfigFile } from './secrets.ts';
import { createLogger, type Logger } from './log.ts';
import { runFirmware, type RunningFirmware } from './run.ts';
import { packageVersion } from './version.ts';
import { notifyReady, notifyStopping, startWatchdog, type Watchdog } from './systemd.ts';

/** Exit statuses (sysexits.h flavour where it fits). */
const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, INTERNAL: 70 } as const;

/** SIGTERM to exit: the graceful shutdown may take this long before we exit anyway. */
const SHUTDOWN_LIMIT_MS = 3_000;

function fatal(logger: Logger, error: unknown): never {
  const err = error instanceof Error ? error : new Error(String(error));
  logger.error('fatal', { message: err.message, stack: err.stack });
  logger.flush();
  process.exit(EXIT.INTERNAL);
}

function installShutdown(logger: Logger, running: RunningFirmware, watchdog: Watchdog | undefined): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutdown', { signal });
    watchdog?.stop();
    void notifyStopping({ logger });
    const forced = setTimeout(() => {
      logger.warn('shutdown_forced', { afterMs: SHUTDOWN_LIMIT_MS });
      logger.flush();
      process.exit(EXIT.OK);
    }, SHUTDOWN_LIMIT_MS);
    forced.unref();
    running.stop().then(
      () => {
        logger.info('stopped', {});
        logger.flush();
        process.exit(EXIT.OK);
      },
      (error: unknown) => fatal(logger, error),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith('piwire:') ? message : `piwire: ${message}`;
}

export async function main(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommandLine(argv, { version: packageVersion() });
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`${errorMessage(error)}\n`);
      return EXIT.USAGE;
    }
    throw error;
  }
  switch (command.command) {
    case 'help':
    case 'version':
      process.stdout.write(command.text.endsWith('\n') ? command.text : `${command.text}\n`);
      return EXIT.OK;
    case 'hash-secret':
      // The one-shot commands load their code (readline, the client) only when used.
      return (await import('./shell-client.ts')).runHashSecret(process.stdin, process.stdout, process.stderr);
    case 'shell':
      return (await import('./shell-client.ts')).runShellClient({ host: command.host, port: command.port, user: command.user, secretFile: command.secretFile, execute: command.execute });
    case 'run':
      break;
  }

  const configFile = command.configFile ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  let config: ResolvedConfig;
  try {
    config = loadConfig({ file: configFile, flags: command.flags });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.USAGE;
    }
    throw error;
  }

  const logger = createLogger({ format: config.log.format, level: config.log.level });
  const exposed = exposedConfigFile(configFile, config);
  if (exposed) logger.warn('config_readable', { ...exposed, text: `${exposed.file} holds credentials and other users can read it: chmod o-r ${exposed.file}` });
  // An error that escapes everything is logged and ends the process non-zero, so
  // systemd restarts the device (Restart=always).
  process.on('uncaughtException', (error) => fatal(logger, error));
  process.on('unhandledRejection', (error) => fatal(logger, error));
  try {
    const running = await runFirmware(config, logger);
    // Under systemd (Type=notify, WatchdogSec=): READY=1 once every service listens, then
    // watchdog pings at half the interval for as long as the event loop turns.
    void notifyReady({ logger });
    installShutdown(logger, running, startWatchdog({ logger }));
    return EXIT.OK;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.USAGE;
    }
    const message = errorMessage(error);
    logger.error('start_failed', { message });
    process.stderr.write(`${message}\n`);
    return EXIT.FAILURE;
  }
}

/**
 * Runs `main` as the process's program: a running firmware keeps the event loop alive;
 * failures and the one-shot commands (whose stdin listeners would keep it alive) exit
 * with their status. The built bundle starts here (firmware/entry.ts).
 */
export function runProgram(argv: readonly string[]): void {
  main(argv).then(
    (status) => {
      const command = argv[0];
      if (status !== EXIT.OK || command === 'shell' || command === 'hash-secret') process.exit(status);
    },
    (error: unknown) => {
      process.stderr.write(`piwire: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(EXIT.INTERNAL);
    },
  );
}

// `tsx firmware/main.ts ARGS` (developers, the tests). Only from the source file: in a
// bundle every module shares the bundle's URL, and the bundle's entry calls runProgram.
const modulePath = fileURLToPath(import.meta.url);
if (modulePath.endsWith('.ts') && modulePath === process.argv[1]) runProgram(process.argv.slice(2));
