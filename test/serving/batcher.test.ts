import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CancelledError, DynamicBatcher } from '../../serving/src/worker/batcher.js';

/** A stand-in model: records each run's parts, answers each part with its own value doubled. */
function recordingRun(opts: { failWhen?: (parts: number[]) => boolean; slowMs?: number } = {}) {
  const runs: number[][] = [];
  const run = async (parts: number[], started: () => void) => {
    runs.push(parts);
    started();
    await new Promise((r) => setTimeout(r, opts.slowMs ?? 5));
    if (opts.failWhen?.(parts)) throw new Error(`run of ${parts.join(',')} failed`);
    return parts.map((p) => p * 2);
  };
  return { runs, run };
}

describe('dynamic batcher', () => {
  test('a lone request runs at once; requests that arrive while the model runs share the next run', async () => {
    const { runs, run } = recordingRun({ slowMs: 30 });
    const b = new DynamicBatcher<number, number>({ maxItems: 64, maxQueueDelayMs: 0, run });
    const first = b.submit(1, 'k', 1);
    await new Promise((r) => setTimeout(r, 5)); // the first run has started
    const rest = [2, 3, 4].map((v) => b.submit(v, 'k', 1));
    const answers = await Promise.all([first, ...rest]);
    assert.deepEqual(runs, [[1], [2, 3, 4]]);
    // Each caller gets its own answer, and sees which run served it.
    assert.deepEqual(answers.map((a) => a.result), [2, 4, 6, 8]);
    assert.deepEqual(answers.map((a) => a.timing.batchRequests), [1, 3, 3, 3]);
    assert.deepEqual(answers.map((a) => a.timing.batchItems), [1, 3, 3, 3]);
    for (const { timing: t } of answers) assert.ok(t.enqueuedAt <= t.dispatchedAt && t.dispatchedAt <= t.runStartedAt && t.runStartedAt <= t.finishedAt);
    // The later requests waited in the queue while the first ran.
    assert.ok(answers[1].timing.dispatchedAt - answers[1].timing.enqueuedAt >= 15);
  });

  test('a run never holds more items than the model batches: filled greedily in arrival order, the rest wait their turn', async () => {
    const { runs, run } = recordingRun();
    const b = new DynamicBatcher<number, number>({ maxItems: 8, maxQueueDelayMs: 0, run });
    // items: 5, 4, 3, 1 → [5, 3] fits 8 (4 would not), then [4, 1]
    const answers = await Promise.all([b.submit(5, 'k', 5), b.submit(4, 'k', 4), b.submit(3, 'k', 3), b.submit(1, 'k', 1)]);
    assert.deepEqual(runs, [[5, 3], [4, 1]]);
    assert.deepEqual(answers.map((a) => a.result), [10, 8, 6, 2]);
    assert.ok(runs.every((parts) => parts.reduce((a, b) => a + b, 0) <= 8));
  });

  test('requests of different shapes (keys) never share a run', async () => {
    const { runs, run } = recordingRun();
    const b = new DynamicBatcher<number, number>({ maxItems: 64, maxQueueDelayMs: 0, run });
    await Promise.all([b.submit(1, 'a', 1), b.submit(2, 'b', 1), b.submit(3, 'a', 1), b.submit(4, 'b', 1)]);
    assert.deepEqual(runs, [[1, 3], [2, 4]]);
  });

  test('a model that does not batch (maxItems 0) runs one request at a time', async () => {
    const { runs, run } = recordingRun();
    const b = new DynamicBatcher<number, number>({ maxItems: 0, maxQueueDelayMs: 0, run });
    await Promise.all([1, 2, 3].map((v) => b.submit(v, 'k', 1)));
    assert.deepEqual(runs, [[1], [2], [3]]);
  });

  test('a failing run is retried one request at a time: only the bad request fails', async () => {
    const { runs, run } = recordingRun({ failWhen: (parts) => parts.includes(13) });
    const b = new DynamicBatcher<number, number>({ maxItems: 64, maxQueueDelayMs: 0, run });
    const settled = await Promise.allSettled([1, 13, 3].map((v) => b.submit(v, 'k', 1)));
    assert.deepEqual(runs, [[1, 13, 3], [1], [13], [3]]);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal((settled[0] as PromiseFulfilledResult<{ result: number }>).value.result, 2);
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /run of 13 failed/);
  });

  test('a full batch of another shape does not wait behind a lone request\'s queue delay', async () => {
    const { runs, run } = recordingRun();
    const b = new DynamicBatcher<number, number>({ maxItems: 2, maxQueueDelayMs: 200, run });
    const lone = b.submit(1, 'a', 1);
    const full = Promise.all([b.submit(2, 'b', 1), b.submit(3, 'b', 1)]);
    const [first] = await full;
    assert.deepEqual(runs[0], [2, 3], 'the full batch ran first');
    assert.ok(first.timing.dispatchedAt - first.timing.enqueuedAt < 100, 'without waiting out the delay');
    const a = await lone;
    assert.ok(a.timing.dispatchedAt - a.timing.enqueuedAt >= 190, 'the lone request still waited for company');
  });

  test('a run that throws at once, or answers too few requests, fails only what it must and the batcher keeps serving', async () => {
    let calls = 0;
    const b = new DynamicBatcher<number, number>({
      maxItems: 8,
      maxQueueDelayMs: 0,
      run: (parts) => {
        calls++;
        if (parts.includes(13)) throw new Error('synchronous failure');
        if (parts.length > 1) return Promise.resolve([parts[0] * 2]); // one answer for several requests
        return Promise.resolve(parts.map((p) => p * 2));
      },
    });
    // Merged, 1 and 3 get one answer between them: each is re-run alone and answered correctly.
    const pair = await Promise.all([b.submit(1, 'k', 1), b.submit(3, 'k', 1)]);
    assert.deepEqual(pair.map((p) => p.result), [2, 6]);
    assert.equal(calls, 3);
    await assert.rejects(b.submit(13, 'k', 1), /synchronous failure/);
    assert.equal((await b.submit(5, 'k', 1)).result, 10, 'still serving afterwards');
  });

  test('one-at-a-time retries skip requests whose clients left, and busyFor restarts with each run', async () => {
    const seen: number[][] = [];
    let b!: DynamicBatcher<number, number>;
    const busy: number[] = [];
    b = new DynamicBatcher<number, number>({
      maxItems: 8,
      maxQueueDelayMs: 0,
      run: async (parts) => {
        seen.push(parts);
        busy.push(b.busyFor());
        await new Promise((r) => setTimeout(r, 30));
        if (parts.length > 1) throw new Error('merged run failed');
        return parts.map((p) => p * 2);
      },
    });
    const gone = { cancelled: false };
    const results = Promise.allSettled([b.submit(1, 'k', 1), b.submit(2, 'k', 1, gone), b.submit(3, 'k', 1)]);
    await new Promise((r) => setTimeout(r, 10));
    gone.cancelled = true; // the client of request 2 leaves while the merged run is failing
    const settled = await results;
    assert.deepEqual(seen, [[1, 2, 3], [1], [3]], 'request 2 is not run again');
    assert.ok(settled[1].status === 'rejected' && settled[1].reason instanceof CancelledError);
    assert.ok(busy.every((ms) => ms < 10), `each run starts its own clock (${busy.map((ms) => ms.toFixed(1)).join(', ')} ms)`);
  });

  test('a request whose client went away before its run is dropped, not run', async () => {
    const { runs, run } = recordingRun({ slowMs: 20 });
    const b = new DynamicBatcher<number, number>({ maxItems: 64, maxQueueDelayMs: 0, run });
    const first = b.submit(1, 'k', 1);
    const signal = { cancelled: false };
    const gone = b.submit(2, 'k', 1, signal);
    const kept = b.submit(3, 'k', 1);
    signal.cancelled = true;
    await assert.rejects(gone, CancelledError);
    await Promise.all([first, kept]);
    assert.deepEqual(runs.flat().sort(), [1, 3]);
  });

  test('max_queue_delay: a batch that is not full waits for company, and a full one goes at once', async () => {
    const { runs, run } = recordingRun();
    const b = new DynamicBatcher<number, number>({ maxItems: 4, maxQueueDelayMs: 60, run });
    const early = b.submit(1, 'k', 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(runs.length, 0, 'still waiting for company');
    const late = b.submit(2, 'k', 1);
    const [a] = await Promise.all([early, late]);
    assert.deepEqual(runs, [[1, 2]]);
    assert.ok(a.timing.dispatchedAt - a.timing.enqueuedAt >= 55, 'the first request waited out the delay');
    const full = await Promise.all([3, 4, 5, 6].map((v) => b.submit(v, 'k', 1)));
    assert.deepEqual(runs[1], [3, 4, 5, 6]);
    assert.ok(full[0].timing.dispatchedAt - full[0].timing.enqueuedAt < 40, 'a full batch does not wait');
  });
});

test('dynamic batcher: busyFor says how long the current run has taken, 0 while idle', async () => {
  const { run } = recordingRun({ slowMs: 40 });
  const b = new DynamicBatcher<number, number>({ maxItems: 8, maxQueueDelayMs: 0, run });
  assert.equal(b.busyFor(), 0);
  const pending = b.submit(1, 'k', 1);
  await new Promise((r) => setTimeout(r, 25));
  assert.ok(b.busyFor() >= 15 && b.busyFor() < 40, `busy for ${b.busyFor()} ms`);
  await pending;
  await new Promise((r) => setImmediate(r));
  assert.equal(b.busyFor(), 0);
});
