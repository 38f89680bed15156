/**
 * Walking the configuration schema: the key reference (`describeConfig`, for the docs,
 * `--help` and the shell's `config`), the check of one value against one key
 * (`checkConfigValue`, for command-line flags), and the translation of the schema's
 * issues into `ConfigIssue`s with "did you mean" hints for unknown keys.
 */
import * as z from 'zod/mini';
import { keyInfo, type ConfigKeyDescription } from './keys.ts';
import { configObjectSchema } from './schema.ts';
import { describeInput, type ConfigIssue } from './errors.ts';

export type { ConfigKeyDescription } from './keys.ts';

type AnySchema = z.ZodMiniType;

/** The object schema inside a (possibly defaulted) group, or undefined for a leaf. */
function groupShape(schema: AnySchema): Record<string, AnySchema> | undefined {
  const inner = schema instanceof z.ZodMiniPrefault ? (schema.def.innerType as AnySchema) : schema;
  return inner instanceof z.ZodMiniObject ? (inner.shape as Record<string, AnySchema>) : undefined;
}

function schemaAt(path: readonly string[]): AnySchema | undefined {
  let schema: AnySchema | undefined = configObjectSchema;
  for (const segment of path) {
    const shape: Record<string, AnySchema> | undefined = schema ? groupShape(schema) : undefined;
    schema = shape && Object.hasOwn(shape, segment) ? shape[segment] : undefined;
  }
  return schema;
}

/** Every key with what it accepts, its default and what it does, in schema order. */
export function describeConfig(): ConfigKeyDescription[] {
  const keys: ConfigKeyDescription[] = [];
  const walk = (shape: Record<string, AnySchema>, prefix: string): void => {
    for (const [name, child] of Object.entries(shape)) {
      const key = prefix + name;
      const info = keyInfo.get(child);
      const nested = groupShape(child);
      if (info) keys.push({ key, ...info });
      else if (nested) walk(nested, `${key}.`);
    }
  };
  walk(configObjectSchema.shape, '');
  return keys;
}

/** All dotted names, groups included: the vocabulary for "did you mean". */
function allKeyNames(): string[] {
  const names: string[] = [];
  const walk = (shape: Record<string, AnySchema>, prefix: string): void => {
    for (const [name, child] of Object.entries(shape)) {
      names.push(prefix + name);
      const nested = keyInfo.get(child) ? undefined : groupShape(child);
      if (nested) walk(nested, `${prefix + name}.`);
    }
  };
  walk(configObjectSchema.shape, '');
  return names;
}

/** Levenshtein distance, for typo hints; keys are short so the quadratic table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function unknownKeyMessage(parent: readonly string[], name: string): string {
  const shape = groupShape(schemaAt(parent) ?? configObjectSchema) ?? {};
  const siblings = Object.keys(shape);
  const prefix = parent.length > 0 ? `${parent.join('.')}.` : '';
  const lower = name.toLowerCase();
  const sibling =
    siblings.find((candidate) => candidate.toLowerCase() === lower) ??
    siblings.find((candidate) => editDistance(candidate.toLowerCase(), lower) <= 2);
  const elsewhere = sibling ? undefined : allKeyNames().find((key) => key.toLowerCase().endsWith(`.${lower}`));
  const hint = sibling ? `; did you mean ${prefix}${sibling}?` : elsewhere ? `; did you mean ${elsewhere}?` : '';
  return `unknown key${hint} (allowed here: ${siblings.join(', ')})`;
}

/**
 * A key path as the messages name it. An empty key (`{"": …}` in the file) is shown as
 * `""`, so every message still names a key (a fuzz finding: test/fuzz/crashes/config/).
 */
function keyName(path: readonly string[]): string {
  return path.map((part) => (part === '' ? '""' : part)).join('.');
}

export function issuesFromZod(error: z.core.$ZodError, flagFor: (key: string) => string | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const name of issue.keys) issues.push({ key: keyName([...path, name]), message: unknownKeyMessage(path, name) });
      continue;
    }
    const key = path.length > 0 ? keyName(path) : '(top level)';
    const isGroup = issue.code === 'invalid_type' && issue.expected === 'object';
    const message = isGroup ? 'must be an object' : issue.message;
    const got = issue.input === undefined ? '' : ` (got ${describeInput(issue.input)})`;
    const flag = flagFor(key);
    issues.push(flag === undefined ? { key, message: message + got } : { key, message: message + got, flag });
  }
  return issues;
}

/**
 * Checks one value for one key on its own (cross-key rules aside): what the command
 * line uses so that `--mtu abc` is refused with the same words as `"mtu": "abc"`.
 */
export function checkConfigValue(key: string, value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  const schema = schemaAt(key.split('.'));
  if (!schema || !keyInfo.get(schema)) return { ok: false, message: 'unknown key' };
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  const first = issuesFromZod(result.error, () => undefined)[0];
  return { ok: false, message: first?.message ?? 'invalid value' };
}
