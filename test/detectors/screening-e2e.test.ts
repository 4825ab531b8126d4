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

  test('squeezing is randomised by a secret keyed on the row: a resent digit gets the same draws, every other row its own', async () => {
    const adv = adversarialDigit(0.1);
    const scoreOf = async (data: number[], id: string) => {
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', digit(data), { ...headers, 'x-request-id': id });
      assert.equal(r.status, 200);
      const f = findingOf(await auditOf(vigil, id), 'squeeze')!;
      assert.equal(f.verdict, 'anomalous', `${id}: score ${f.score}`);
      return f.score;
    };
    const first = await scoreOf(adv, 'draw-a');
    assert.equal(await scoreOf(adv, 'draw-b'), first, 'resending until a lucky draw gains nothing');
    // One corner pixel nudged (the model barely notices it): each variant is a new row, with draws of its own.
    const scores = [first];
    for (let i = 1; i <= 8; i++) scores.push(await scoreOf(adv.map((v, k) => (k === 0 ? i / 1000 : v)), `draw-${i}`));
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
  // A held-out digit with dense ±0.3 noise: out of distribution, and a different row for each digit.
  const noisy = (i: number) => heldout.inputs[i].map((v, k) => Math.min(1, Math.max(0, v + (k % 2 ? 0.3 : -0.3))));

  test('one dense FGSM row among four clean digits is flagged and answered; its finding counts 1 of 5 rows', async () => {
    const rows = [heldout.inputs[1010], adversarialDigit(0.3), heldout.inputs[1011], heldout.inputs[1012], heldout.inputs[1013]];
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch(rows), { ...headers, 'x-request-id': 'one-of-five' });
    assert.equal(r.status, 200);
    const f = findingOf(await auditOf(vigil, 'one-of-five'), 'profile')!;
    assert.deepEqual([f.verdict, f.action, f.rows, f.of, f.item], ['anomalous', 'flag', 1, 5, 1]);
  });

  test('a one-row request whose row is anomalous is refused (min_rows counts no more rows than the request has)', async () => {
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch([adversarialDigit(0.3)]), { ...headers, 'x-request-id': 'one-of-one' });
    assert.deepEqual([r.status, r.json.code], [422, 'INPUT_OUT_OF_DISTRIBUTION']);
    const f = findingOf(await auditOf(vigil, 'one-of-one'), 'profile')!;
    assert.deepEqual([f.action, f.rows, f.of], ['block', 1, 1]);
  });

  test('padding with copies of one clean row does not dilute the share: copies count once', async () => {
    const clean = heldout.inputs[1018];
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch([adversarialDigit(0.3), noisy(1021), clean, clean, clean]), { ...headers, 'x-request-id': 'padded' });
    assert.deepEqual([r.status, r.json.code], [422, 'INPUT_OUT_OF_DISTRIBUTION']);
    const f = findingOf(await auditOf(vigil, 'padded'), 'profile')!;
    assert.deepEqual([f.action, f.rows, f.of], ['block', 2, 3]);
  });

  test('a batch whose rows are mostly anomalous (3 of 4) is refused, and the audit says how many', async () => {
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', batch([adversarialDigit(0.3), heldout.inputs[1014], noisy(1020), noisy(1022)]), { ...headers, 'x-request-id': 'three-of-four' });
    assert.deepEqual([r.status, r.json.code], [422, 'INPUT_OUT_OF_DISTRIBUTION']);
    const rec = await auditOf(vigil, 'three-of-four');
    assert.equal(rec.rule, 'detector:profile');
    const f = findingOf(rec, 'profile')!;
    assert.deepEqual([f.action, f.rows, f.of], ['block', 3, 4]);
  });

  test('two of five rows meet min_rows but not min_fraction: flagged', async () => {
    const rows = [adversarialDigit(0.3), noisy(1023), heldout.inputs[1015], heldout.inputs[1016], heldout.inputs[1017]];
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
