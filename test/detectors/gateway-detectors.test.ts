import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { RequestContext } from '../../gateway/src/context.js';
import { Quarantine } from '../../gateway/src/screening/quarantine.js';
import { findingVerdicts } from '../../gateway/src/screening/verdicts.js';
import { policySchema } from '../../policies/src/index.js';
import { modelConfigSchema } from '../../serving/src/model-config.js';
import { finding } from '../../detectors/src/finding.js';
import { calibrateJoint, calibrateJointGroups, rocAuc } from '../../tools/calibration/calibration.js';
import { detectorConfigSchema } from '../../detectors/src/detector-config.js';
import { ProfileDetector, type TrainingProfile } from '../../detectors/src/profile-detector.js';
import { screenStructure } from '../../detectors/src/structural.js';
import type { InferenceRequest } from '../../oip/src/signature.js';
import { mulberry32 } from '../../tools/train/prng.js';
import { loadHeldout } from '../helpers/heldout.js';
import { runVigil } from '../helpers/run-node.js';
import { copyOfModels } from '../helpers/vigil-harness.js';

const structural = (over: Record<string, unknown> = {}) => detectorConfigSchema.parse({ structural: { max_elements: 8, max_body_bytes: 1000, max_bytes_element: 4, parameters: ['priority'], tensor_parameters: ['content_type'], ...over } }).structural;
const req = (inputs: InferenceRequest['inputs'], parameters?: Record<string, unknown>): InferenceRequest => ({ inputs, ...(parameters ? { parameters } : {}) });
const fp32 = (data: number[], shape = [1, data.length]) => ({ name: 'x', datatype: 'FP32' as const, shape, data });
const ranges = new Map([['x', [0, 1] as const]]);

describe('structural detector', () => {
  test('a request within every budget passes with nothing to record', () => {
    assert.deepEqual(screenStructure({ request: req([fp32([0, 0.5, 1])], { priority: 1 }), bodyBytes: 200, ranges }, structural()), []);
  });

  test('each crafted violation is caught, named and scored against its limit', () => {
    const found = (request: InferenceRequest, bodyBytes = 200) => screenStructure({ request, bodyBytes, ranges }, structural()).map((f) => [f.signal, f.score, f.threshold, f.verdict]);
    assert.deepEqual(found(req([fp32(new Array(9).fill(0))])), [['elements', 9, 8, 'anomalous']]);
    assert.deepEqual(found(req([fp32([0])]), 1001), [['body_bytes', 1001, 1000, 'anomalous']]);
    assert.deepEqual(found(req([fp32([0])], { debug: true })), [['parameter', 1, 0, 'anomalous']]);
    assert.deepEqual(found(req([{ ...fp32([0]), parameters: { shm_region: 'x' } }])), [['parameter', 1, 0, 'anomalous']]);
    assert.deepEqual(found(req([{ name: 's', datatype: 'BYTES', shape: [1, 2], data: ['ok', 'héllo'] }])), [['bytes_element', 6, 4, 'anomalous']]);
    const [range] = screenStructure({ request: req([fp32([0, 0.5, 0, 0, 1.25, 0], [2, 3])]), bodyBytes: 100, ranges }, structural());
    assert.deepEqual([range.signal, range.score, range.item], ['value_range', 0.25, 1], 'the worst element, and its batch row');
  });

  test('disabled: nothing is checked', () => {
    assert.deepEqual(screenStructure({ request: req([fp32(new Array(9).fill(5))], { debug: 1 }), bodyBytes: 5000, ranges }, structural({ enabled: false })), []);
  });
});

describe('profile detector', () => {
  const profile = JSON.parse(readFileSync('models/mnist/1/profile.json', 'utf8')) as TrainingProfile;
  const threshold = 2.13501;
  const detector = new ProfileDetector(profile, { enabled: true, std_floor: 0.05, z2_cap: 256, threshold }, [0, 1]);
  const heldout = loadHeldout('mnist');

  test('held-out digits score low; a digit with dense ±0.1 noise and a uniform noise probe score far above the threshold', () => {
    const rng = mulberry32(11);
    const clean = heldout.inputs.slice(1000, 1100).map((x) => detector.score(Float32Array.from(x)));
    const noisy = heldout.inputs.slice(1000, 1100).map((x) => detector.score(Float32Array.from(x, (v) => Math.min(1, Math.max(0, v + (rng() < 0.5 ? -0.3 : 0.3))))));
    const probes = Array.from({ length: 20 }, () => detector.score(Float32Array.from({ length: 784 }, rng)));
    assert.ok(clean.filter((s) => s > threshold).length <= 10, 'about the calibrated 5% of clean digits, or fewer');
    assert.ok(noisy.every((s) => s > threshold), 'every densely perturbed digit');
    assert.ok(probes.every((s) => s > 10 * threshold), 'every noise probe, by far');
  });

  test('the finding names the worst row; without a threshold a score is recorded, never anomalous', () => {
    const rows = [Float32Array.from(heldout.inputs[1000]), new Float32Array(784).fill(1)];
    const f = detector.inspect({ features: 784, rows });
    assert.deepEqual([f.detector, f.item, f.verdict], ['profile', 1, 'anomalous']);
    const uncalibrated = new ProfileDetector(profile, { enabled: true, std_floor: 0.05, z2_cap: 256 }, [0, 1]).inspect({ features: 784, rows });
    assert.deepEqual([uncalibrated.threshold, uncalibrated.verdict], [null, 'clean']);
  });
});

describe('calibration', () => {
  test('joint thresholds keep the union of the detectors at the target rate', () => {
    const rng = mulberry32(3);
    const a = Array.from({ length: 2000 }, rng);
    const b = Array.from({ length: 2000 }, rng);
    const { thresholds, unionFpr } = calibrateJoint({ a, b }, 0.05);
    assert.ok(unionFpr <= 0.05 && unionFpr >= 0.045, `union ${unionFpr}`);
    // Two independent detectors at 5% each would flag ~9.75%; jointly each sits near 2.5%.
    for (const t of Object.values(thresholds)) assert.ok(t > 0.97 && t < 0.98, `threshold ${t}`);
  });

  test('grouped thresholds hold the rate on every group, the shifted one included, and refuse a group without scores', () => {
    const rng = mulberry32(3);
    const clean = () => Array.from({ length: 1000 }, () => rng());
    // The "thick pen" group moves detector a's scores up, not b's: a's threshold rises, b's need not.
    const groups = { heldout: { a: clean(), b: clean() }, thick: { a: clean().map((v) => v + 0.3), b: clean() } };
    const { thresholds, groupFpr } = calibrateJointGroups(groups, 0.05);
    for (const [g, rate] of Object.entries(groupFpr)) assert.ok(rate <= 0.05, `${g}: ${rate}`);
    assert.ok(thresholds.a > thresholds.b, `a ${thresholds.a} rose above b ${thresholds.b}`);
    assert.throws(() => calibrateJointGroups({ heldout: { a: clean(), b: clean() }, blur: { a: [], b: [] } }, 0.05), /group blur needs scores/);
    assert.throws(() => calibrateJointGroups({ heldout: { a: clean(), b: clean() }, blur: { a: clean() } }, 0.05), /group blur needs scores/);
  });

  test('ROC-AUC: 1 for separated scores, 0.5 for identical ones, ties count half', () => {
    assert.equal(rocAuc([0, 1, 2], [3, 4]), 1);
    assert.equal(rocAuc([1, 1], [1, 1]), 0.5);
    assert.equal(rocAuc([0, 2], [1, 3]), 0.75);
  });

  test('`vigil detectors calibrate` writes the thresholds into model.yaml, keeping its comments, and reports the unseen half', async () => {
    const models = await copyOfModels();
    try {
      const file = join(models.dir, 'mnist', '1', 'model.yaml');
      const shipped = await readFile(file, 'utf8');
      const cleared = shipped.replace(/threshold: [0-9.]+/g, 'threshold: 99');
      assert.notEqual(cleared, shipped);
      await writeFile(file, cleared);
      const env = { VIGIL_MODEL_REPOSITORY: models.dir };
      const ran = await runVigil(['detectors', 'calibrate', '--model', 'mnist', '--fpr', '0.05'], env);
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stdout, /profile +threshold [0-9.]+/);
      assert.match(ran.stdout, /of the other 1000 held-out inputs/);
      assert.match(ran.stdout, /shift_1 +model accuracy [0-9.]+%, flagged [0-9.]+% of the unseen half; held to 5\.0%/);
      assert.match(ran.stdout, /grey_background +model accuracy [0-9.]+%, flagged [0-9.]+% of the unseen half; not held to it/);
      assert.equal(await readFile(file, 'utf8'), shipped, 'the same thresholds as shipped, and the file otherwise unchanged');
      const bad = await runVigil(['detectors', 'calibrate', '--model', 'mnist', '--fpr', '2'], env);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--fpr must be a rate/);
      const unknown = await runVigil(['detectors', 'calibrate', '--model', 'mnist', '--variations', 'shift_1,wobble'], env);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown: wobble/);
    } finally {
      await models.cleanup();
    }
  });
});

describe('verdicts and model configs that would screen nothing', () => {
  test('a quarantine is applied even when an earlier finding already blocked the request', async () => {
    const ctx = { modes: {}, shadowDenials: [], principal: { id: 'user:alice', method: 'jwt', roles: [] }, source: '127.0.0.1' } as unknown as RequestContext;
    const quarantine = new Quarantine();
    const actions = policySchema.parse({ version: 1, roles: {}, detectors: { structural: { action: 'block' }, profile: { action: 'quarantine' } } }).detectors;
    const findings = [finding('structural', 'parameter', 1, 0), finding('profile', 'z2_mean', 9, 2)];
    const [first, ...rest] = await findingVerdicts(ctx, findings, actions, quarantine);
    assert.equal(first.error.code, 'PRINCIPAL_QUARANTINED', 'the quarantine is the refusal the caller gets');
    assert.equal(first.rule, 'detector:profile');
    assert.deepEqual(rest.map((r) => r.error.code), ['STRUCTURAL_CHECK_FAILED']);
    assert.equal((await quarantine.check('user:alice'))?.reason, 'profile:z2_mean');
  });

  test('block and quarantine act on the share of anomalous rows: below min_rows or min_fraction the finding is flagged and no one is quarantined', async () => {
    const ctx = () => ({ modes: {}, shadowDenials: [], principal: { id: 'user:bob', method: 'jwt', roles: [] }, source: '127.0.0.1' }) as unknown as RequestContext;
    const quarantine = new Quarantine();
    const actions = policySchema.parse({ version: 1, roles: {}, detectors: { profile: { action: 'quarantine', min_rows: 2, min_fraction: 0.5 }, squeeze: { action: 'block', min_fraction: 0.5 } } }).detectors;
    const rows = (detector: string, n: number, of: number) => ({ ...finding(detector, 's', 9, 2), rows: n, of });
    const low = ctx();
    assert.deepEqual(await findingVerdicts(low, [rows('profile', 1, 3), rows('squeeze', 2, 5)], actions, quarantine), []);
    assert.deepEqual(low.screen!.findings.map((f) => f.action), ['flag', 'flag']);
    assert.equal(await quarantine.check('user:bob'), undefined);
    const high = ctx();
    const refused = await findingVerdicts(high, [rows('profile', 2, 4), rows('squeeze', 3, 5)], actions, quarantine);
    assert.deepEqual(refused.map((r) => r.error.code), ['PRINCIPAL_QUARANTINED', 'ADVERSARIAL_INPUT']);
    assert.ok(await quarantine.check('user:bob'));
    assert.equal(policySchema.safeParse({ version: 1, roles: {}, detectors: { profile: { min_fraction: 1.5 } } }).success, false);
  });

  test('a model the numeric detectors cannot screen is refused at load, never served unscreened', () => {
    const base = parseYaml(readFileSync('models/mnist/1/model.yaml', 'utf8')) as Record<string, any>;
    const problems = (change: (c: Record<string, any>) => void) => {
      const c = structuredClone(base);
      change(c);
      const r = modelConfigSchema.safeParse(c);
      return r.success ? [] : r.error.issues.map((i) => i.message);
    };
    assert.deepEqual(problems(() => undefined), []);
    assert.match(problems((c) => (c.max_batch_size = 0)).join(), /max_batch_size from 1 to 256/);
    assert.match(problems((c) => (c.inputs[0].shape = [-1, -1])).join(), /one FP32 input of shape \[-1, features\]/);
    assert.match(problems((c) => (c.detectors.squeeze.image = [27, 28])).join(), /27x28 does not hold the input's 784 features/);
    assert.match(problems((c) => (c.outputs[0].datatype = 'INT64')).join(), /FP32 output 'probabilities'/);
  });
});
