import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import type { AuditFinding } from '../../gateway/src/audit/audit-record.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { adversarialDigit } from '../helpers/adversarial.js';
import { loadHeldout } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

const heldout = loadHeldout('mnist');

const digit = (data: number[], extra: Record<string, unknown> = {}) => ({ ...extra, inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data }] });

const policy = (detectors: string) => `
version: 1
roles: { analyst: demo }
grants:
  - { id: analyst-mnist, roles: [analyst], actions: [infer], models: [mnist] }
limits:
  roles: { analyst: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 } }
detectors:
${detectors}
`;

async function auditOf(vigil: TestVigil, clientId: string): Promise<StoredAuditRecord & { type: 'request' }> {
  for await (const r of queryAudit(vigil.config.audit.dir)) if (r.type === 'request' && r.client_request_id === clientId) return r;
  throw new Error(`no audit record for ${clientId}`);
}

const findingOf = (r: { findings?: AuditFinding[] }, detector: string) => r.findings?.find((f) => f.detector === detector);

describe('screening through the gateway, enforced', () => {
  let vigil: TestVigil;
  let headers: Record<string, string>;
  before(async () => {
    const file = await writePolicy(policy('  profile: { action: block }\n  squeeze: { action: flag }'));
    vigil = await startTestVigil({ policy: { file } });
    headers = await vigil.auth(['analyst'], 'alice');
  });
  after(() => vigil.stop());

  test('a clean held-out digit is answered, with clean scores in its audit record', async () => {
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', digit(heldout.inputs[1000]), { ...headers, 'x-request-id': 'clean' });
    assert.equal(r.status, 200);
    const rec = await auditOf(vigil, 'clean');
    for (const d of ['profile', 'squeeze']) {
      const f = findingOf(rec, d);
      assert.ok(f, `a ${d} finding`);
      assert.equal(f.verdict, 'clean');
      assert.ok(f.threshold !== null && f.score <= f.threshold);
    }
  });

  test('a dense FGSM digit (ε 0.3) is blocked by the profile detector, audited with its score', async () => {
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', digit(adversarialDigit(0.3)), { ...headers, 'x-request-id': 'fgsm-03' });
    assert.equal(r.status, 422);
    assert.equal(r.json.code, 'INPUT_OUT_OF_DISTRIBUTION');
    const rec = await auditOf(vigil, 'fgsm-03');
    assert.equal(rec.decision, 'deny');
    assert.equal(rec.rule, 'detector:profile');
    const f = findingOf(rec, 'profile')!;
    assert.deepEqual([f.verdict, f.action, f.mode], ['anomalous', 'block', 'enforce']);
    assert.ok(f.score > f.threshold!, `score ${f.score} over threshold ${f.threshold}`);
    assert.equal(rec.modes['detector:profile'], 'enforce');
  });

  test('a subtle FGSM digit (ε 0.1) is answered but flagged by feature squeezing, and counted', async () => {
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', digit(adversarialDigit(0.1)), { ...headers, 'x-request-id': 'fgsm-01' });
    assert.equal(r.status, 200, 'flag lets it through');
    const rec = await auditOf(vigil, 'fgsm-01');
    const f = findingOf(rec, 'squeeze')!;
    assert.deepEqual([f.verdict, f.action], ['anomalous', 'flag']);
    assert.match(f.signal, /^(bit_depth_1|median_2x2|median_3x3)$/);
    const metrics = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    assert.match(metrics, /vigil_detector_findings_total\{[^}]*detector="squeeze"[^}]*action="flag"[^}]*\} 1\b/);
    assert.match(metrics, /vigil_detector_findings_total\{[^}]*detector="profile"[^}]*action="block"[^}]*\} 1\b/);
  });

  test('squeezing is randomised per request: the same adversarial digit, sent 8 times, is scored with different secret draws and flagged every time', async () => {
    const adv = adversarialDigit(0.1);
    const scores: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', digit(adv), { ...headers, 'x-request-id': `draw-${i}` });
      assert.equal(r.status, 200);
      const f = findingOf(await auditOf(vigil, `draw-${i}`), 'squeeze')!;
      assert.equal(f.verdict, 'anomalous', `draw ${i}: score ${f.score}`);
      scores.push(f.score);
    }
    // Offline, no one score of this digit comes up in more than 12% of draws: 8 equal ones would mean a fixed squeezer.
    assert.ok(new Set(scores).size >= 2, `scores ${scores.join(', ')}`);
  });

  test('structural: a value outside the declared range and an unknown parameter are refused with STRUCTURAL_CHECK_FAILED', async () => {
    const data = heldout.inputs[1001].slice();
    data[400] = 7;
    const range = await postJson(vigil.port, '/v2/models/mnist/infer', digit(data), headers);
    assert.deepEqual([range.status, range.json.code], [400, 'STRUCTURAL_CHECK_FAILED']);
    assert.match(range.json.error, /outside the declared range/);
    const param = await postJson(vigil.port, '/v2/models/mnist/infer', digit(heldout.inputs[1001], { parameters: { debug_dump: true } }), headers);
    assert.deepEqual([param.status, param.json.code], [400, 'STRUCTURAL_CHECK_FAILED']);
  });
});

describe('per-row verdicts (min_rows 2, min_fraction 0.5, as the bundled policy)', () => {
  let vigil: TestVigil;
  let headers: Record<string, string>;
  before(async () => {
    const file = await writePolicy(policy('  profile: { action: block, min_rows: 2, min_fraction: 0.5 }\n  squeeze: { action: allow }'));
    vigil = await startTestVigil({ policy: { file } });
    headers = await vigil.auth(['analyst'], 'alice');
  });
  after(() => vigil.stop());
  const batch = (rows: number[][]) => ({ inputs: [{ name: 'input', shape: [rows.length, 784], datatype: 'FP32', data: rows.flat() }] });

  test('one dense FGSM row among four clean digits is flagged and answered; its finding counts 1 of 5 rows', async () => {
    const rows = [heldout.inputs[1010], adversarialDigit(0.3), heldout.inputs[1011], heldout.inputs[1012], heldout.inputs[1013]];
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch(rows), { ...headers, 'x-request-id': 'one-of-five' });
    assert.equal(r.status, 200);
    const f = findingOf(await auditOf(vigil, 'one-of-five'), 'profile')!;
    assert.deepEqual([f.verdict, f.action, f.rows, f.of, f.item], ['anomalous', 'flag', 1, 5, 1]);
  });

  test('a single anomalous row alone is flagged, not refused (min_rows 2)', async () => {
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch([adversarialDigit(0.3)]), { ...headers, 'x-request-id': 'one-of-one' });
    assert.equal(r.status, 200);
    const f = findingOf(await auditOf(vigil, 'one-of-one'), 'profile')!;
    assert.deepEqual([f.action, f.rows, f.of], ['flag', 1, 1]);
  });

  test('a batch whose rows are mostly anomalous (3 of 4) is refused, and the audit says how many', async () => {
    const adv = adversarialDigit(0.3);
    const noisy = heldout.inputs[1020].map((v, i) => Math.min(1, Math.max(0, v + (i % 2 ? 0.3 : -0.3))));
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch([adv, heldout.inputs[1014], noisy, adv]), { ...headers, 'x-request-id': 'three-of-four' });
    assert.deepEqual([r.status, r.json.code], [422, 'INPUT_OUT_OF_DISTRIBUTION']);
    const rec = await auditOf(vigil, 'three-of-four');
    assert.equal(rec.rule, 'detector:profile');
    const f = findingOf(rec, 'profile')!;
    assert.deepEqual([f.action, f.rows, f.of], ['block', 3, 4]);
  });

  test('two of five rows meet min_rows but not min_fraction: flagged', async () => {
    const adv = adversarialDigit(0.3);
    const rows = [adv, adv, heldout.inputs[1015], heldout.inputs[1016], heldout.inputs[1017]];
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch(rows), { ...headers, 'x-request-id': 'two-of-five' });
    assert.equal(r.status, 200);
    const f = findingOf(await auditOf(vigil, 'two-of-five'), 'profile')!;
    assert.deepEqual([f.action, f.rows, f.of], ['flag', 2, 5]);
  });
});

describe('quarantine', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ policy: { file: await writePolicy(policy('  structural: { action: quarantine }\n  quarantine_seconds: 2')) } });
  });
  after(() => vigil.stop());

  test('a quarantined principal is refused everything until its time runs out; others are not', async () => {
    const mallory = await vigil.auth(['analyst'], 'mallory');
    const bob = await vigil.auth(['analyst'], 'bob');
    const bad = heldout.inputs[1002].slice();
    bad[0] = -3;
    const first = await postJson(vigil.port, '/v2/models/mnist/infer', digit(bad), mallory);
    assert.deepEqual([first.status, first.json.code], [403, 'PRINCIPAL_QUARANTINED']);
    const clean = digit(heldout.inputs[1002]);
    const again = await postJson(vigil.port, '/v2/models/mnist/infer', clean, { ...mallory, 'x-request-id': 'quarantined' });
    assert.deepEqual([again.status, again.json.code], [403, 'PRINCIPAL_QUARANTINED']);
    assert.ok(Number(again.headers['retry-after']) >= 1 && Number(again.headers['retry-after']) <= 2);
    assert.equal((await auditOf(vigil, 'quarantined')).rule, 'quarantine:structural:value_range');
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', clean, bob)).status, 200, 'another principal is unaffected');
    await sleep(2100);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', clean, mallory)).status, 200, 'served again once the time is up');
    const metrics = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    assert.match(metrics, /vigil_quarantines_total\{detector="structural"\} 1\b/);
  });

  test('an extraction sweep (one digit plus small noise, again and again) is flagged', async () => {
    const sweeper = await vigil.auth(['analyst'], 'sweeper');
    let state = 12345;
    const noise = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.1;
    let caughtAt = -1;
    for (let q = 1; q <= 200 && caughtAt < 0; q++) {
      const x = heldout.inputs[1003].map((v) => Math.min(1, Math.max(0, v + noise())));
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', digit(x), sweeper);
      assert.equal(r.status, 200, 'extraction flags here (structural is the quarantining detector in this policy)');
      const metrics = q % 10 === 0 ? (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text : '';
      if (/vigil_detector_findings_total\{[^}]*detector="extraction"[^}]*signal="near_duplicate"/.test(metrics)) caughtAt = q;
    }
    assert.ok(caughtAt > 0 && caughtAt <= 100, `near-duplicate sweep flagged after ${caughtAt} queries`);
  });
});

describe('shadow mode', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ policy: { file: await writePolicy(policy('  profile: { mode: shadow, action: block }\n  squeeze: { mode: shadow, action: quarantine }')) } });
  });
  after(() => vigil.stop());

  test('records what it would have done and never blocks', async () => {
    const headers = await vigil.auth(['analyst'], 'carol');
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', digit(adversarialDigit(0.3)), { ...headers, 'x-request-id': 'shadow' });
    assert.equal(r.status, 200);
    const rec = await auditOf(vigil, 'shadow');
    assert.equal(rec.decision, 'allow');
    const f = findingOf(rec, 'profile')!;
    assert.deepEqual([f.verdict, f.mode, f.action], ['anomalous', 'shadow', 'block']);
    assert.equal(rec.modes['detector:profile'], 'shadow');
    assert.ok(rec.shadow_denials.includes('detector:profile'));
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', digit(heldout.inputs[1000]), headers)).status, 200, 'never quarantined in shadow mode');
  });
});
