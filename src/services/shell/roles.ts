/**
 * Shell roles (issue 17): a `viewer` may look (status, conns, stats, arp, leds, sensors,
 * readings, plot, log, ping, help, quit); an `admin` may also act: `kill`, `restart` and
 * `config` (the configuration names the device's users and files, so reading it is an
 * admin's business too).
 *
 * `services.shell.users.<name>` is either the stored form that `piwire hash-secret`
 * prints (an admin, the form every configuration had before roles existed) or
 * `{ "secret": <stored form>, "role": "viewer" | "admin" }`.
 */
export const SHELL_ROLES = ['viewer', 'admin'] as const;
export type ShellRole = (typeof SHELL_ROLES)[number];

/** Commands only an admin may run; every other command is open to both roles. */
export const ADMIN_COMMANDS: ReadonlySet<string> = new Set(['kill', 'restart', 'config']);

/** One user as the configuration holds it. */
export type ShellUserEntry = string | { readonly secret: string; readonly role: ShellRole };

export function isShellRole(value: unknown): value is ShellRole {
  return typeof value === 'string' && (SHELL_ROLES as readonly string[]).includes(value);
}

/** The stored form and the role of a configured user (the bare form means admin). */
export function userEntry(entry: ShellUserEntry): { form: string; role: ShellRole } {
  return typeof entry === 'string' ? { form: entry, role: 'admin' } : { form: entry.secret, role: entry.role };
}

/** May `role` run the command called `name` (lower case)? */
export function mayRun(role: ShellRole, name: string): boolean {
  return role === 'admin' || !ADMIN_COMMANDS.has(name);
}
