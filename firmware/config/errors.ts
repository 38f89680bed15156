/**
 * Configuration errors: `ConfigError` is what start-up stops on (exit status 2, SPEC
 * section 2), one line per problem, each naming the dotted key, the flag it came
 * from (if any), what is wrong and what is allowed.
 */

export interface ConfigIssue {
  /** Dotted key (`tcp.keepalive.idle`), or the file name for file-level problems. */
  key: string;
  /** What is wrong and what is allowed. */
  message: string;
  /** The flag the value came from, when it came from the command line. */
  flag?: string;
}

/** Start-up stops on this with exit status 2 (SPEC section 2). One line per issue. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  readonly exitCode = 2;
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function formatIssue(issue: ConfigIssue): string {
  const source = issue.flag === undefined ? '' : ` (${issue.flag})`;
  return `config: ${issue.key}${source}: ${issue.message}`;
}

/** A value as the user wrote it, shortened so one bad key cannot flood the terminal. */
export function describeInput(input: unknown): string {
  if (input === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(input) ?? String(input);
  } catch {
    text = String(input);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
