/**
 * The fuzz targets' assertion: a broken invariant is an exception, which Jazzer.js
 * reports as a finding (and test/fuzz/regressions.test.ts as a failure). Plain
 * node:assert would do too; this keeps the targets free of test-runner imports.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** A reply line: one line, LF-terminated, no other CR or LF inside. */
export function isOneLine(text: string): boolean {
  return text.endsWith('\n') && !/[\r\n]/.test(text.slice(0, -1));
}
