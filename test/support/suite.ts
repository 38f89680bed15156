/**
 * The scaffold of an integration suite: a before-hook that builds the suite's
 * environment (namespaces, capture, firmware) and keeps a setup failure to report in
 * each test, and an after-hook that runs the registered cleanups in reverse order
 * (firmware and capture stop before their namespaces go), even when setup failed.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';

export type Cleanup = () => Promise<unknown>;

export function suiteEnvironment<E>(skip: string | false, setUp: (cleanups: Cleanup[]) => Promise<E>): () => E {
  const cleanups: Cleanup[] = [];
  let environment: E | undefined;
  let setupError: unknown;
  before(
    async () => {
      if (skip) return;
      try {
        environment = await setUp(cleanups);
      } catch (error) {
        setupError = error;
      }
    },
    { timeout: 120_000 },
  );
  after(
    async () => {
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error: unknown) => console.error(`cleanup failed: ${String(error)}`));
      }
    },
    { timeout: 60_000 },
  );
  /** The suite's environment, or the setup's error (with the firmware's output) as the failure. */
  return () => {
    if (setupError !== undefined) throw setupError;
    assert.ok(environment, 'setup did not run');
    return environment;
  };
}
