import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { inferRequest } from '../helpers/heldout.js';
import { postJson, startTestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * latency_by_model end to end: steady traffic teaches the baseline what digits/1 usually takes;
 * then its real pool process is frozen (SIGSTOP) for a moment, as a pool starved of CPU would be.
 * The requests caught behind it make the interval's mean round trip leap, the alert fires into
 * the audit log, and once the pool runs freely again it resolves.
 */
test('a model version that suddenly answers far more slowly than its usual raises latency_by_model, which resolves after', { timeout: 60_000 }, async () => {
  const vigil = await startTestVigil({
    alerts: { tick_ms: 250, rules: { latency_by_model: { warmup_ticks: 4, min_count: 3, resolve_ticks: 2 } } },
  });
  const stopAt = { value: false };
  try {
    const auth = await vigil.auth(['admin'], 'load');
    const body = inferRequest('digits', [0]);
    // Four clients back to back: many samples in every interval, well inside the admin quotas.
    const clients = Array.from({ length: 4 }, async () => {
      while (!stopAt.value) {
        const r = await postJson(vigil.port, '/v2/models/digits/infer', body, auth);
        assert.equal(r.status, 200, r.text);
      }
    });
    await new Promise((r) => setTimeout(r, 2_500)); // ten intervals: past the warm-up, the usual learnt
    const alerts = async () => {
      const out: StoredAuditRecord[] = [];
      for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'alert' })) if (rec.type === 'alert' && rec.rule === 'latency_by_model') out.push(rec);
      return out;
    };
    assert.deepEqual(await alerts(), [], 'steady traffic raises nothing');

    const served = vigil.registry.resolve('digits', undefined);
    assert.equal(served.status, 'serving');
    const pid = served.pool.workers[0].pid!;
    process.kill(pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 400)); // under the health checker's patience (3 × 1 s)
    process.kill(pid, 'SIGCONT');

    const firing = await waitFor('the firing alert in the audit log', async () => (await alerts()).find((a) => a.type === 'alert' && a.state === 'firing'), 10_000);
    assert.ok(firing.type === 'alert');
    assert.deepEqual(firing.labels, { model: 'digits', version: '1' });
    assert.equal(firing.unit, 'ms');
    assert.ok(firing.value > 100, `the slow interval's mean round trip (${firing.value} ms) reflects the 400 ms freeze`);
    assert.ok(firing.baseline < firing.value / 4, `the usual (${firing.baseline} ms) is far below it`);
    const resolved = await waitFor('the resolved alert', async () => (await alerts()).find((a) => a.type === 'alert' && a.state === 'resolved'), 10_000);
    assert.ok(resolved.type === 'alert' && resolved.labels.model === 'digits');
    stopAt.value = true;
    await Promise.all(clients);
  } finally {
    stopAt.value = true;
    await vigil.stop();
  }
});
