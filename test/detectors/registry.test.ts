// The detector registry is the one list: the model.yaml section, the policy's actions, the
// refusal codes and the screening stages all follow it. These are the checks a contributor adding
// a detector relies on.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemoryBudgetStore } from '../../detectors/src/budget/budget-store.js';
import { MemoryExtractionStore } from '../../detectors/src/extraction/index.js';
import { detectorConfigSchema } from '../../detectors/src/detector-config.js';
import { DETECTOR_REGISTRY, DETECTORS } from '../../detectors/src/registry.js';
import { ERRORS, isErrorCode } from '../../gateway/src/errors.js';
import { loadModelScreening } from '../../gateway/src/screening/model-screening.js';
import { policySchema } from '../../policies/src/policy-schema.js';
import { loadYamlWithSchema } from '../../oip/src/yaml-with-schema.js';
import { modelConfigSchema } from '../../serving/src/model-config.js';

const loadModelConfig = (dir: string) => loadYamlWithSchema(join(dir, 'model.yaml'), modelConfigSchema);

test('every registered detector has a unique name and a catalogued refusal code that refuses (4xx)', () => {
  assert.equal(new Set(DETECTORS).size, DETECTOR_REGISTRY.length);
  for (const d of DETECTOR_REGISTRY) {
    assert.ok(isErrorCode(d.refusalCode), `${d.name}: ${d.refusalCode} is in the error catalogue`);
    const { status } = ERRORS[d.refusalCode];
    assert.ok(status >= 400 && status < 500, `${d.name}: ${d.refusalCode} is a refusal, not a fault (${status})`);
  }
});

test("a policy without a detectors section gets every registered detector's default action, enforced", () => {
  const { detectors } = policySchema.parse({ version: 1, roles: {} });
  for (const d of DETECTOR_REGISTRY) assert.deepEqual((detectors as Record<string, unknown>)[d.name], { mode: 'enforce', action: d.defaultAction, min_rows: 1, min_fraction: 0 }, d.name);
  assert.equal(policySchema.safeParse({ version: 1, roles: {}, detectors: { telepathy: { action: 'block' } } }).success, false, 'an unregistered detector name is refused');
});

test("model.yaml's detectors section has one key per registered detector, and refuses any other", () => {
  const parsed = detectorConfigSchema.parse({});
  assert.deepEqual(Object.keys(detectorConfigSchema.shape).sort(), [...DETECTORS].sort());
  assert.ok('structural' in parsed, 'structural is on by default');
  const bad = detectorConfigSchema.safeParse({ telepathy: {} });
  assert.equal(bad.success, false);
  const median = detectorConfigSchema.safeParse({ squeeze: { squeezers: ['median_2x2'] } });
  assert.equal(median.success, false, 'a detector keeps its own cross-field rule');
  assert.deepEqual(median.error?.issues[0].path, ['squeeze', 'image']);
});

test('the bundled mnist model is screened by every detector, each in its phase, and the pool is told what to compute', async () => {
  const dir = join(import.meta.dirname, '../../../models/mnist/1');
  const config = await loadModelConfig(dir);
  const screening = await loadModelScreening(config, dir, { extraction: new MemoryExtractionStore({}), budget: new MemoryBudgetStore() });
  assert.deepEqual(screening.request.map((d) => d.name), ['structural', 'profile']);
  assert.deepEqual(screening.answer.map((d) => [d.name, d.phase]), [['squeeze', 'pool'], ['extraction', 'answer'], ['budget', 'answer']]);
  assert.deepEqual(screening.pool?.squeezers, config.detectors.squeeze?.squeezers);
  assert.equal(screening.pool?.probabilities, 'probabilities');
});

test('a detector that is enabled and cannot run fails the model loudly: a missing profile file', async () => {
  const dir = join(import.meta.dirname, '../../../models/mnist/1');
  const config = { ...(await loadModelConfig(dir)), profile: 'nowhere.json' };
  await assert.rejects(loadModelScreening(config, dir, { extraction: new MemoryExtractionStore({}), budget: new MemoryBudgetStore() }), /nowhere\.json/);
  const empty = await mkdtemp(join(tmpdir(), 'vigil-registry-'));
  await writeFile(join(empty, 'profile.json'), JSON.stringify({ features: 3, mean: [0, 0, 0], std: [1, 1, 1], min: [0, 0, 0], max: [1, 1, 1] }));
  await assert.rejects(loadModelScreening({ ...config, profile: 'profile.json' }, empty, { extraction: new MemoryExtractionStore({}), budget: new MemoryBudgetStore() }), /3 features; the model's input has 784/);
});
