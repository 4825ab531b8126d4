import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Vigil } from '../../gateway/src/vigil.js';
import { ChildProcessLauncher } from '../../serving/src/supervisor/child-process-launcher.js';
import type { LaunchedProcess, Launcher, LaunchSpec } from '../../serving/src/supervisor/launcher.js';
import { postJson, startTestVigil } from '../helpers/vigil-harness.js';

/** The launcher seam in use: same specs, but a recording pool instead of ONNX Runtime. */
class RecordingPoolLauncher implements Launcher {
  private readonly inner = new ChildProcessLauncher();
  launch(spec: LaunchSpec): LaunchedProcess {
    return this.inner.launch({ ...spec, args: [fileURLToPath(new URL('../fixtures/recording-pool.js', import.meta.url))] });
  }
}

describe('proxy stage', () => {
  let vigil: Vigil;
  before(async () => {
    vigil = await startTestVigil({}, new RecordingPoolLauncher());
  });
  after(() => vigil.stop());

  test('forwards exactly the bytes it validated, to the addressed version, without client credentials', async () => {
    // Odd but valid JSON: whitespace, key order, number spellings a re-serialisation would change.
    const data = Array.from({ length: 64 }, (_, i) => (i % 3 === 0 ? '1.50' : i % 3 === 1 ? '-0' : '1E1'));
    const body = `{ "outputs":[ {"name":"label"} ],\n  "inputs" : [ {"datatype":"FP32","name":"input","shape":[1,64],\n "data":[${data.join(' ,')}] } ] , "id":"\\u0041"}`;
    const r = await postJson(vigil.port, '/v2/models/digits/infer', body, {
      authorization: 'Bearer secret-token',
      cookie: 'session=secret',
      'x-api-key': 'secret-key',
      'x-forwarded-for': '6.6.6.6',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(Buffer.from(r.json.received, 'base64').toString('utf8'), body);
    assert.equal(r.json.url, '/v2/models/digits/versions/1/infer', 'the version is resolved before proxying');
    for (const secret of ['authorization', 'cookie', 'x-api-key', 'x-forwarded-for']) {
      assert.equal(r.json.headers[secret], undefined, `${secret} must not reach the pool`);
    }
    assert.equal(r.json.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(r.json.headers['x-request-id'], r.headers['x-request-id']);
    assert.equal(Number(r.json.headers['content-length']), Buffer.byteLength(body));
  });

  test('nothing that fails validation reaches the pool', async () => {
    const r = await postJson(vigil.port, '/v2/models/digits/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: [1] }] });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'ELEMENT_COUNT_MISMATCH');
    assert.equal(r.json.received, undefined);
  });
});
