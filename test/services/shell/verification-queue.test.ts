/**
 * VerificationQueue: at most maxConcurrent derivations run, maxQueued wait in order,
 * the rest are refused without running.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VerificationQueue } from '../../../src/services/shell/verification-queue.ts';

/** A verification that finishes when the test says so. */
function controllable(log: string[], name: string) {
  let finish: (value: boolean) => void = () => undefined;
  const verify = () => {
    log.push(`start ${name}`);
    return new Promise<boolean>((resolve) => (finish = resolve));
  };
  return { verify, finish: (value: boolean) => finish(value) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('password verification queue', () => {
  it('runs two at once, queues up to the bound in order, and refuses the rest without running them', async () => {
    const queue = new VerificationQueue({ maxConcurrent: 2, maxQueued: 2 });
    const log: string[] = [];
    const jobs = ['a', 'b', 'c', 'd'].map((name) => controllable(log, name));
    const results = jobs.map((job) => queue.run(job.verify));
    await turn();
    assert.deepEqual(log, ['start a', 'start b']);
    assert.equal(queue.active, 2);
    assert.equal(queue.queued, 2);
    let ran = false;
    assert.equal(
      queue.run(async () => {
        ran = true;
        return true;
      }),
      undefined,
    );
    assert.equal(ran, false, 'a refused attempt derives nothing');
    assert.equal(queue.refused, 1);

    jobs[1]!.finish(true);
    await turn();
    assert.deepEqual(log, ['start a', 'start b', 'start c'], 'the first waiting one takes the free slot');
    jobs[0]!.finish(false);
    jobs[2]!.finish(true);
    await turn();
    jobs[3]!.finish(false);
    assert.deepEqual(await Promise.all(results), [false, true, true, false]);
    assert.equal(queue.active, 0);
    assert.equal(queue.queued, 0);
  });

  it('a verification that throws frees its slot', async () => {
    const queue = new VerificationQueue({ maxConcurrent: 1, maxQueued: 0 });
    await assert.rejects(queue.run(() => Promise.reject(new Error('boom')))!, /boom/);
    assert.equal(queue.active, 0);
    assert.equal(await queue.run(async () => 42), 42);
  });
});
