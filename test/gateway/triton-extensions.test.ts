// Triton's extensions beyond inference, as its clients and tools call them (issue 16, item 2):
// model configuration, statistics and the repository index, each under the same RBAC as metadata,
// and classification and the request timeout on inference.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

const policy = `
version: 1
anonymous: { actions: [health] }
roles: { analyst: both models, digits-only: one model, partner: the class only }
grants:
  - { id: both, roles: [analyst, partner], actions: [infer, metadata, health], models: [mnist, digits] }
  - { id: one, roles: [digits-only], actions: [infer, metadata, health], models: [digits] }
limits:
  roles:
    analyst: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
    partner: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
    digits-only: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
answers:
  roles:
    partner: { detail: top1 }
`;

describe('Triton extensions: config, statistics, repository index, classification, timeout', () => {
  let vigil: TestVigil;
  let analyst: Record<string, string>;
  let digitsOnly: Record<string, string>;
  before(async () => {
    vigil = await startTestVigil({ policy: { file: await writePolicy(policy) } });
    analyst = await vigil.auth(['analyst'], 'ana');
    digitsOnly = await vigil.auth(['digits-only'], 'dora');
  });
  after(() => vigil?.stop());
  const get = (path: string, headers: Record<string, string>) => rawRequest(vigil.port, 'GET', path, { headers });

  test('server metadata lists the extensions vigil implements', async () => {
    const r = await get('/v2', analyst);
    for (const e of ['binary_tensor_data', 'classification', 'model_configuration', 'statistics', 'model_repository']) assert.ok(r.json.extensions.includes(e), e);
  });

  test('config: Triton\'s shape, dims without the batch dimension, the declared range, no detector settings', async () => {
    for (const path of ['/v2/models/mnist/config', '/v2/models/mnist/versions/1/config']) {
      const r = await get(path, analyst);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.name, 'mnist');
      assert.equal(r.json.max_batch_size, 64);
      assert.deepEqual(r.json.input, [{ name: 'input', data_type: 'TYPE_FP32', format: 'FORMAT_NONE', dims: [784], parameters: { range: [0, 1] } }]);
      assert.deepEqual(r.json.output.map((o: { name: string; data_type: string; dims: number[] }) => [o.name, o.data_type, o.dims]), [['probabilities', 'TYPE_FP32', [10]], ['label', 'TYPE_INT64', [1]]]);
      assert.deepEqual(r.json.instance_group, [{ name: 'mnist', kind: 'KIND_CPU', count: 1 }]);
      assert.doesNotMatch(r.text, /threshold|squeeze|budget|calibration|digest/, 'detector settings and the artifact digest stay inside');
    }
  });

  test('config, stats and metadata are refused alike to a caller who may not see the model, and to nobody', async () => {
    for (const suffix of ['', '/config', '/stats']) {
      const denied = await get(`/v2/models/mnist${suffix}`, digitsOnly);
      assert.equal(denied.status, 403, `${suffix}: ${denied.text}`);
      assert.equal(denied.json.code, 'FORBIDDEN');
      const missing = await get(`/v2/models/no-such-model${suffix}`, digitsOnly);
      assert.equal(missing.status, 403, 'the same answer whether or not the model exists');
      assert.equal((await get(`/v2/models/mnist${suffix}`, {})).status, 401);
    }
    assert.equal((await get('/v2/models/digits/config', digitsOnly)).status, 200);
  });

  test('statistics count what reached the model: successes with their time, items, the pool\'s queue and compute', async () => {
    const before = (await get('/v2/models/mnist/stats', analyst)).json.model_stats[0];
    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40 + i, 50 + i]), analyst);
      assert.equal(r.status, 200, r.text);
    }
    const bad = await postJson(vigil.port, '/v2/models/mnist/infer', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }, analyst);
    assert.equal(bad.status, 400, 'refused before any pool: not a model failure');
    const r = await get('/v2/models/mnist/versions/1/stats', analyst);
    assert.equal(r.status, 200);
    const [s] = r.json.model_stats;
    assert.equal(s.name, 'mnist');
    assert.equal(s.version, '1');
    assert.equal(s.inference_count - before.inference_count, 6, 'two items per request');
    assert.equal(s.inference_stats.success.count - before.inference_stats.success.count, 3);
    assert.equal(s.inference_stats.fail.count, before.inference_stats.fail.count, 'a request refused at validation never reached the model');
    assert.ok(s.inference_stats.success.ns > before.inference_stats.success.ns);
    assert.ok(s.inference_stats.compute_infer.count >= 3 && s.inference_stats.compute_infer.ns > 0);
    assert.ok(s.execution_count >= 1 && s.execution_count <= s.inference_count);
    assert.ok(s.last_inference >= started && s.last_inference <= Date.now());
  });

  test('the repository index lists only the models the caller may see, with their state', async () => {
    const all = await rawRequest(vigil.port, 'POST', '/v2/repository/index', { headers: { ...analyst, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.json.map((m: { name: string }) => m.name).sort(), ['digits', 'mnist']);
    for (const m of all.json) assert.deepEqual(m, { name: m.name, version: '1', state: 'READY' }, 'reason only when there is one, as Triton answers');
    const some = await rawRequest(vigil.port, 'POST', '/v2/repository/index', { headers: digitsOnly, body: '' });
    assert.deepEqual(some.json.map((m: { name: string }) => m.name), ['digits']);
    const anonymous = await rawRequest(vigil.port, 'POST', '/v2/repository/index', {});
    assert.equal(anonymous.status, 200);
    assert.deepEqual(anonymous.json, [], 'anonymous callers may check health, and see no model');
    assert.equal((await get('/v2/repository/index', analyst)).status, 405);
    const ready = await rawRequest(vigil.port, 'POST', '/v2/repository/index', { headers: { ...analyst, 'content-type': 'application/json' }, body: '{"ready": true}' });
    assert.deepEqual(ready.json.map((m: { name: string }) => m.name).sort(), ['digits', 'mnist'], 'both are ready');
    const odd = await rawRequest(vigil.port, 'POST', '/v2/repository/index', { headers: analyst, body: '{"ready": "yes", "all": 1}' });
    assert.equal(odd.status, 400);
    assert.match(odd.json.error, /\{"ready": true\|false\}/);
    const array = await rawRequest(vigil.port, 'POST', '/v2/repository/index', { headers: analyst, body: '[]' });
    assert.equal(array.status, 400, 'an array is not an index request');
    const big = await rawRequest(vigil.port, 'POST', '/v2/repository/index', { headers: analyst, body: `{"ready": true${' '.repeat(4096)}}` });
    assert.equal(big.json.code, 'BODY_TOO_LARGE');
  });

  test('classification: the top k as "value:index:label", ranked from the probabilities the model gave', async () => {
    const rows = [40, 41, 42];
    const full = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', rows), analyst);
    const ranked = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', rows, { outputs: [{ name: 'probabilities', parameters: { classification: 3 } }] }), analyst);
    assert.equal(ranked.status, 200, ranked.text);
    const [out] = ranked.json.outputs;
    assert.deepEqual([out.name, out.datatype, out.shape], ['probabilities', 'BYTES', [3, 3]]);
    const probs: number[] = full.json.outputs[0].data;
    for (let r = 0; r < rows.length; r++) {
      const row = probs.slice(r * 10, r * 10 + 10);
      const expected = row.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 3);
      assert.deepEqual(out.data.slice(r * 3, r * 3 + 3), expected.map(([p, i]) => `${p.toFixed(6)}:${i}:${i}`));
    }
    const all = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { outputs: [{ name: 'probabilities', parameters: { classification: 99 } }] }), analyst);
    assert.equal(all.json.outputs[0].data.length, 10, 'k past the classes returns every class');
  });

  test('classification never shows a top1 role more than the top class', async () => {
    const partner = await vigil.auth(['partner'], 'pat');
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { outputs: [{ name: 'probabilities', parameters: { classification: 10 } }] }), partner);
    assert.equal(r.status, 200, r.text);
    const values = r.json.outputs[0].data.map((s: string) => Number(s.split(':')[0]));
    assert.deepEqual(values, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('classification of a non-numeric output, and malformed standard parameters, are refused by name', async () => {
    const label = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { outputs: [{ name: 'probabilities', parameters: { classification: -1 } }] }), analyst);
    assert.equal(label.status, 400);
    assert.match(label.json.error, /classification must be a positive integer/);
    const timeout = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { parameters: { timeout: 'soon' } }), analyst);
    assert.equal(timeout.json.code, 'INVALID_INFERENCE_REQUEST');
  });

  test("the request's own timeout: a frozen pool answers 504 DEADLINE_EXCEEDED at the caller's deadline, not counted as the model's failure", async () => {
    const served = vigil.registry.resolve('mnist', undefined);
    assert.equal(served.status, 'serving');
    const before = (await get('/v2/models/mnist/stats', analyst)).json.model_stats[0].inference_stats.fail.count;
    const pid = served.pool!.workers[0].pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { parameters: { timeout: 300_000 } }), analyst);
      assert.equal(r.status, 504, r.text);
      assert.equal(r.json.code, 'DEADLINE_EXCEEDED');
      assert.ok(Date.now() - started < 3_000, 'the 0.3 s deadline, not the 5 s one');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.equal((await get('/v2/models/mnist/stats', analyst)).json.model_stats[0].inference_stats.fail.count, before);
  });

  test('a parameter off the allowlist is refused with the model.yaml key to edit; standard ones pass', async () => {
    const ok = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { parameters: { binary_data_output: false, timeout: 5_000_000, priority: 1 } }), analyst);
    assert.equal(ok.status, 200, ok.text);
    const off = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { parameters: { temperature: 0.5 } }), analyst);
    assert.equal(off.status, 400);
    assert.equal(off.json.code, 'STRUCTURAL_CHECK_FAILED');
    assert.match(off.json.error, /request parameter 'temperature' is not allowed for this model; an operator may add it to detectors\.structural\.parameters in the model's model\.yaml/);
    const sequence = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40], { parameters: { sequence_id: 7 } }), analyst);
    assert.match(sequence.json.error, /no sequence \(stateful\) models/);
  });
});
