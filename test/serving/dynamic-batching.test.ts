import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadHeldout } from '../helpers/heldout.js';
import { sample } from '../helpers/prom-text.js';
import { copyOfModels, postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

// Real pools on a copy of the bundled models: mnist batches with a long queue delay, so requests
// sent together are certain to share one run; digits has no dynamic_batching section.
describe('dynamic batching in the pool (real ONNX Runtime pools)', () => {
  let vigil: TestVigil;
  let models: Awaited<ReturnType<typeof copyOfModels>>;
  const mnist = loadHeldout('mnist');
  const one = (i: number, outputs?: string[]) => ({
    inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: mnist.inputs[i] }],
    ...(outputs ? { outputs: outputs.map((name) => ({ name })) } : {}),
  });
  const metrics = async () => (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;

  before(async () => {
    models = await copyOfModels();
    const mnistYaml = join(models.dir, 'mnist', '1', 'model.yaml');
    await writeFile(mnistYaml, (await readFile(mnistYaml, 'utf8')).replace('max_queue_delay_microseconds: 0', 'max_queue_delay_microseconds: 300000'));
    const digitsYaml = join(models.dir, 'digits', '1', 'model.yaml');
    await writeFile(digitsYaml, (await readFile(digitsYaml, 'utf8')).replace(/dynamic_batching:\n {2}max_queue_delay_microseconds: 0\n/, ''));
    vigil = await startTestVigil({ models: { repository: models.dir } });
  });
  after(async () => {
    await vigil.stop();
    await models.cleanup();
  });

  test('requests sent together share one run, and each gets exactly the answer it gets alone', async () => {
    const auth = await vigil.auth(['analyst']);
    const alone = [];
    for (let i = 0; i < 6; i++) alone.push((await postJson(vigil.port, '/v2/models/mnist/infer', one(i), auth)).json);
    const before = await metrics();
    // Six one-row requests, one of them asking for the label only: the run computes both outputs
    // and each request gets back only its own rows and outputs.
    const together = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => postJson(vigil.port, '/v2/models/mnist/infer', one(i, i === 3 ? ['label'] : undefined), auth)));
    for (const [i, r] of together.entries()) {
      assert.equal(r.status, 200, r.text);
      if (i === 3) {
        assert.deepEqual(r.json.outputs.map((o: { name: string }) => o.name), ['label']);
        assert.deepEqual(r.json.outputs[0], alone[i].outputs.find((o: { name: string }) => o.name === 'label'));
      } else assert.deepEqual(r.json.outputs, alone[i].outputs, `request ${i}: the same answer as alone`);
    }
    const after = await metrics();
    const delta = (name: string) => sample(after, name, { model: 'mnist' })! - (sample(before, name, { model: 'mnist' }) ?? 0);
    assert.equal(delta('vigil_inference_execution_batch_size_count'), 6);
    assert.equal(delta('vigil_inference_execution_batch_size_sum'), 36, 'each of the 6 requests ran in a run of 6 items');
    // A run that is not full waits for company up to the delay: the wait shows in the queue metric.
    assert.ok(delta('vigil_inference_queue_duration_seconds_sum') / 6 > 0.1, 'the requests waited in the queue for the batch to fill');
  });

  test('without dynamic_batching, each request runs alone even when they arrive together', async () => {
    const auth = await vigil.auth(['analyst']);
    const digits = loadHeldout('digits');
    const before = await metrics();
    const rs = await Promise.all([0, 1, 2, 3].map((i) => postJson(vigil.port, '/v2/models/digits/infer', { inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: digits.inputs[i] }] }, auth)));
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200]);
    const after = await metrics();
    const delta = (name: string) => sample(after, name, { model: 'digits' })! - (sample(before, name, { model: 'digits' }) ?? 0);
    assert.equal(delta('vigil_inference_execution_batch_size_count'), 4);
    assert.equal(delta('vigil_inference_execution_batch_size_sum'), 4, 'every run held one request of one item');
  });
});
