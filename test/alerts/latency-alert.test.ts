import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { inferRequest } from '../helpers/heldout.js';
import { startTestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * latency_by_model end to end: steady traffic teaches the baseline what digits/1 usually takes;
 * then its real pool process is frozen (SIGSTOP) for a moment, as a pool starved of CPU would be.
 * The requests caught behind it make the interval's mean round trip leap, the alert fires into
 * the audit log, and once the pool runs freely again it resolves.
 */
test('a model version that suddenly answers far more slowly than its usual raises latency_by_model, which resolves after', { timeout: 60_000 }, async () => {
  const vigil = await startTestVigil({
    // k 10 (the bar is at least twice the usual): a busy CI machine's jitter stays under it, a frozen pool does not.
    alerts: { tick_ms: 250, rules: { latency_by_model: { warmup_ticks: 8, min_count: 3, resolve_ticks: 2, k: 10 } } },
  });
  const stopAt = { value: false };
  try {
    const auth = await vigil.auth(['admin'], 'load');
    const body = inferRequest('digits', [0]);
    // Four clients, each pausing 50 ms between requests: about twenty samples in every interval,
    // well inside the admin quotas. Unpaced clients fill the interval the freeze ends in with
    // hundreds of fast answers, which dilute the four frozen ones below any fixed bar.
    // Statuses are collected, not asserted in the loops: a failed assertion must not leave them running.
    // fetch keeps its connections alive: a new connection per request at this rate runs into
    // the loopback's TIME_WAIT ports, which has nothing to do with what is tested here.
    const statuses = new Map<number | string, number>();
    const payload = JSON.stringify(body);
    const clients = Array.from({ length: 4 }, async () => {
      while (!stopAt.value) {
        const r = await fetch(`http://127.0.0.1:${vigil.port}/v2/models/digits/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: payload })
          .then(async (res) => (await res.arrayBuffer(), res.status))
          .catch((err: Error) => err.message);
        statuses.set(r, (statuses.get(r) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    await new Promise((r) => setTimeout(r, 3_000)); // twelve intervals: past the warm-up, the usual learnt
    const alerts = async () => {
      const out: StoredAuditRecord[] = [];
      for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'alert' })) if (rec.type === 'alert' && rec.rule === 'latency_by_model') out.push(rec);
      return out;
    };
    assert.deepEqual(await alerts(), [], 'steady traffic raises nothing');

    const served = vigil.registry.resolve('digits', undefined);
    assert.equal(served.status, 'serving');
    const pid = served.pool!.workers[0].pid!;
    process.kill(pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 600)); // under the health checker's patience (3 × 1 s)
    process.kill(pid, 'SIGCONT');

    const firing = await waitFor('the firing alert in the audit log', async () => (await alerts()).find((a) => a.type === 'alert' && a.state === 'firing'), 10_000);
    assert.ok(firing.type === 'alert');
    assert.deepEqual(firing.labels, { model: 'digits', version: '1' });
    assert.equal(firing.unit, 'ms');
    assert.ok(firing.value > 50, `the slow interval's mean round trip (${firing.value} ms) reflects the 600 ms freeze`);
    assert.ok(firing.baseline < firing.value / 5, `the usual (${firing.baseline} ms) is far below it`);
    const resolved = await waitFor('the resolved alert', async () => (await alerts()).find((a) => a.type === 'alert' && a.state === 'resolved'), 10_000);
    assert.ok(resolved.type === 'alert' && resolved.labels.model === 'digits');
    stopAt.value = true;
    await Promise.all(clients);
    assert.deepEqual([...statuses.keys()], [200], `every request was answered (the freeze delays, it does not fail): ${JSON.stringify([...statuses])}`);
  } finally {
    stopAt.value = true;
    await vigil.stop();
  }
});
