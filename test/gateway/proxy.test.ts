import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadHeldout } from '../helpers/heldout.js';
import { RecordingPoolLauncher } from '../helpers/recording-pool.js';
import { postJson, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

describe('proxy stage', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({}, { launcher: new RecordingPoolLauncher() });
  });
  after(() => vigil.stop());

  test('forwards exactly the bytes it validated, to the addressed version, without client credentials', async () => {
    // Odd but valid JSON: whitespace, key order, number spellings a re-serialisation would change.
    // A real digit (one the profile detector passes: the bundled policy blocks an anomalous row), spelled oddly.
    const digit = loadHeldout('digits').inputs[40];
    const data = digit.map((v, i) => (i % 3 === 0 ? `${v}.00` : i % 3 === 1 ? (v === 0 ? '-0' : `${v}`) : `${v}E0`));
    const body = `{ "outputs":[ {"name":"label"} ],\n  "inputs" : [ {"datatype":"FP32","name":"input","shape":[1,64],\n "data":[${data.join(' ,')}] } ] , "id":"\\u0041"}`;
    const r = await postJson(vigil.port, '/v2/models/digits/infer', body, {
      ...(await vigil.auth()),
      cookie: 'session=secret',
      'x-forwarded-for': '6.6.6.6',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(Buffer.from(r.json.received, 'base64').toString('utf8'), body);
    assert.equal(r.json.url, '/v2/models/digits/versions/1/infer', 'the version is resolved before proxying');
    for (const secret of ['authorization', 'cookie', 'x-forwarded-for']) {
      assert.equal(r.json.headers[secret], undefined, `${secret} must not reach the pool`);
    }
    assert.equal(r.json.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(r.json.headers['x-request-id'], r.headers['x-request-id']);
    assert.equal(Number(r.json.headers['content-length']), Buffer.byteLength(body));
  });

  test('nothing that fails validation reaches the pool', async () => {
    const r = await postJson(vigil.port, '/v2/models/digits/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: [1] }] }, await vigil.auth());
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'ELEMENT_COUNT_MISMATCH');
    assert.equal(r.json.received, undefined);
  });
});
