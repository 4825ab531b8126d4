import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { scanRepository } from '../../serving/src/model-repository.js';
import { inferRequest } from '../helpers/heldout.js';
import { BUNDLED_MODELS, copyOfModels, postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

describe('model repository', () => {
  test('the bundled repository loads both demo models, versions highest first', async () => {
    const scan = await scanRepository(BUNDLED_MODELS);
    assert.deepEqual([...scan.models.keys()], ['digits', 'mnist']);
    for (const versions of scan.models.values()) {
      assert.equal(versions[0].status, 'ok');
      assert.equal(versions[0].version, '1');
    }
  });

  test('a digest mismatch refuses that version, loudly, and the rest still serve', async () => {
    const copy = await copyOfModels();
    let vigil: TestVigil | undefined;
    try {
      await appendFile(join(copy.dir, 'digits', '1', 'model.onnx'), Buffer.from([0])); // one byte changed
      const scan = await scanRepository(copy.dir);
      const digits = scan.models.get('digits')![0];
      assert.equal(digits.status, 'refused');
      assert.match(digits.status === 'refused' ? digits.reason : '', /digest mismatch: model.yaml pins sha256:[0-9a-f]{64} but model.onnx is sha256:[0-9a-f]{64}/);
      assert.equal(scan.models.get('mnist')![0].status, 'ok');

      vigil = await startTestVigil({ models: { repository: copy.dir } });
      const headers = await vigil.auth(['admin'], 'ops');
      assert.equal(vigil.supervisor.allPools().length, 1, 'no pool is started for the refused version');
      const refused = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers);
      assert.equal(refused.status, 503);
      assert.equal(refused.json.code, 'MODEL_UNAVAILABLE');
      assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers })).json.code, 'MODEL_UNAVAILABLE');
      assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), headers)).status, 200);
      // Server readiness covers the models that are served; the refused one is reported, not waited for.
      assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/ready')).status, 200);
      const status = await rawRequest(vigil.adminPort, 'GET', '/status', { headers });
      const entry = status.json.models.find((m: { model: string }) => m.model === 'digits');
      assert.equal(entry.status, 'refused');
      assert.match(entry.reason, /digest mismatch/);
    } finally {
      await vigil?.stop();
      await copy.cleanup();
    }
  });

  test('an invalid model.yaml is refused with the file, line and reason', async () => {
    const copy = await copyOfModels();
    try {
      const file = join(copy.dir, 'mnist', '1', 'model.yaml');
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.replace('datatype: FP32', 'datatype: FLOAT32'));
      const scan = await scanRepository(copy.dir);
      const mnist = scan.models.get('mnist')![0];
      assert.equal(mnist.status, 'refused');
      const reason = mnist.status === 'refused' ? mnist.reason : '';
      const line = text.split('\n').findIndex((l) => l.includes('datatype: FP32')) + 1;
      assert.match(reason, new RegExp(`model\\.yaml:${line}:\\d+ inputs\\.0\\.datatype: `));
    } finally {
      await copy.cleanup();
    }
  });

  test('dynamic_batching on a model that does not batch (max_batch_size 0) is refused, with the reason', async () => {
    const copy = await copyOfModels();
    try {
      // digits without screening, so that max_batch_size 0 is otherwise a valid config.
      const file = join(copy.dir, 'digits', '1', 'model.yaml');
      const text = await readFile(file, 'utf8');
      const unbatched = text
        .slice(0, text.indexOf('detectors:'))
        .replace('max_batch_size: 64', 'max_batch_size: 0')
        .replace(/shape: \[-1, /g, 'shape: [1, ');
      await writeFile(file, unbatched);
      const digits = (await scanRepository(copy.dir)).models.get('digits')![0];
      assert.equal(digits.status, 'refused');
      assert.match(digits.status === 'refused' ? digits.reason : '', /dynamic_batching: dynamic batching needs max_batch_size ≥ 1/);
      await writeFile(file, unbatched.replace(/dynamic_batching:\n {2}max_queue_delay_microseconds: 0\n/, ''));
      assert.equal((await scanRepository(copy.dir)).models.get('digits')![0].status, 'ok', 'the same model without the section loads');
    } finally {
      await copy.cleanup();
    }
  });

  test('stray directories are reported, not served', async () => {
    const copy = await copyOfModels();
    try {
      await mkdir(join(copy.dir, 'mnist', 'latest'));
      await mkdir(join(copy.dir, '.cache'));
      const scan = await scanRepository(copy.dir);
      assert.deepEqual(scan.ignored.sort(), ['.cache: not a valid model name', 'mnist/latest: version directories must be integers']);
      assert.deepEqual(scan.models.get('mnist')!.map((v) => v.version), ['1']);
    } finally {
      await copy.cleanup();
    }
  });
});
