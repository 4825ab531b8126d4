import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inferRequest, loadHeldout } from '../helpers/heldout.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

describe('Open Inference Protocol through the gateway, real pools', () => {
  let vigil: TestVigil;
  let analyst: Record<string, string>;
  let admin: Record<string, string>;
  before(async () => {
    vigil = await startTestVigil({ server: { max_body_bytes: 64 * 1024 } });
    analyst = await vigil.auth(['analyst']);
    admin = await vigil.auth(['admin'], 'root');
  });
  after(() => vigil.stop());
  const get = (path: string, headers = analyst) => rawRequest(vigil.port, 'GET', path, { headers });
  const post = (path: string, body: unknown, headers = analyst) => postJson(vigil.port, path, body, headers);

  test('health, server metadata', async () => {
    assert.deepEqual((await get('/v2/health/live')).json, { live: true });
    const ready = await get('/v2/health/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { ready: true });
    const meta = await get('/v2');
    assert.equal(meta.status, 200);
    assert.equal(meta.json.name, 'vigil');
    assert.equal(typeof meta.json.version, 'string');
    assert.ok(Array.isArray(meta.json.extensions));
  });

  test('model metadata names the platform, versions and tensors, with or without a version', async () => {
    for (const path of ['/v2/models/mnist', '/v2/models/mnist/versions/1']) {
      const r = await get(path);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, {
        name: 'mnist',
        versions: ['1'],
        platform: 'onnx_onnxv1',
        // The declared value range: a client sending 0-255 pixels learns of [0, 1] here, not from a 400.
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 784], parameters: { range: [0, 1] } }],
        outputs: [
          { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
          { name: 'label', datatype: 'INT64', shape: [-1, 1] },
        ],
      });
    }
    const head = await rawRequest(vigil.port, 'HEAD', '/v2/models/digits', { headers: analyst });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  test('model ready', async () => {
    const r = await get('/v2/models/digits/versions/1/ready');
    assert.equal(r.status, 200);
    assert.equal(r.json.ready, true);
    assert.equal((await get('/v2/models/mnist/ready')).json.ready, true);
  });

  test('infer on real held-out digits: correct classes, probabilities, id echoed', async () => {
    const h = loadHeldout('mnist');
    const indices = [0, 1, 2, 3, 4, 5, 6, 7];
    const r = await post('/v2/models/mnist/infer', inferRequest('mnist', indices, { id: 'req-42' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, 'req-42');
    assert.equal(r.json.model_name, 'mnist');
    assert.equal(r.json.model_version, '1');
    assert.match(String(r.headers['x-request-id']), /\S/);
    const probs = r.json.outputs.find((o: { name: string }) => o.name === 'probabilities');
    const labels = r.json.outputs.find((o: { name: string }) => o.name === 'label');
    assert.deepEqual(probs.shape, [8, 10]);
    assert.equal(probs.datatype, 'FP32');
    assert.deepEqual(labels.shape, [8, 1]);
    assert.equal(labels.datatype, 'INT64');
    for (let i = 0; i < 8; i++) {
      const row = probs.data.slice(i * 10, i * 10 + 10) as number[];
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'softmax rows sum to 1');
    }
    const correct = indices.filter((i, k) => labels.data[k] === h.labels[i]).length;
    assert.ok(correct >= 7, `expected most of 8 held-out digits right, got ${correct}`);
  });

  test('nested data and outputs selection', async () => {
    const h = loadHeldout('digits');
    const body = {
      inputs: [{ name: 'input', shape: [2, 64], datatype: 'FP32', data: [h.inputs[0], h.inputs[1]] }],
      outputs: [{ name: 'label' }],
    };
    const r = await post('/v2/models/digits/versions/1/infer', body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.outputs.length, 1);
    assert.equal(r.json.outputs[0].name, 'label');
    assert.deepEqual(r.json.outputs[0].data, [h.labels[0], h.labels[1]]);
    assert.equal(r.json.id, undefined);
  });

  test('unknown model, unknown version → 404 with stable codes (for a caller who may see every model)', async () => {
    const a = await get('/v2/models/nope', admin);
    assert.equal(a.status, 404);
    assert.equal(a.json.code, 'MODEL_NOT_FOUND');
    assert.match(a.json.error, /nope/);
    const b = await post('/v2/models/mnist/versions/9/infer', inferRequest('mnist', [0]), admin);
    assert.equal(b.status, 404);
    assert.equal(b.json.code, 'MODEL_VERSION_NOT_FOUND');
    const c = await get('/v2/models/mnist/versions/9/ready', admin);
    assert.equal(c.json.code, 'MODEL_VERSION_NOT_FOUND');
  });

  test('error cases answer with the right status and code, and the {"error"} body', async () => {
    const good = inferRequest('digits', [0]);
    const tensor = good.inputs[0];
    const cases: [string, Promise<Awaited<ReturnType<typeof get>>>, number, string][] = [
      ['malformed JSON', post('/v2/models/digits/infer', '{"inputs": ['), 400, 'INVALID_JSON'],
      ['empty body', post('/v2/models/digits/infer', ''), 400, 'INVALID_JSON'],
      ['invalid UTF-8', rawRequest(vigil.port, 'POST', '/v2/models/digits/infer', { headers: { ...analyst, 'content-type': 'application/json' }, body: Buffer.from([0x7b, 0xff, 0x7d]) }), 400, 'INVALID_JSON'],
      ['wrong tensor name', post('/v2/models/digits/infer', { inputs: [{ ...tensor, name: 'pixels' }] }), 400, 'UNKNOWN_INPUT'],
      ['wrong shape', post('/v2/models/digits/infer', { inputs: [{ ...tensor, shape: [1, 63] }] }), 400, 'SHAPE_MISMATCH'],
      ['wrong datatype', post('/v2/models/digits/infer', { inputs: [{ ...tensor, datatype: 'INT32' }] }), 400, 'DATATYPE_MISMATCH'],
      ['wrong element count', post('/v2/models/digits/infer', { inputs: [{ ...tensor, data: tensor.data.slice(1) }] }), 400, 'ELEMENT_COUNT_MISMATCH'],
      ['non-finite number', post('/v2/models/digits/infer', JSON.stringify(good).replace(/"data":\[[^,\]]+/, '"data":[1e999')), 400, 'NON_FINITE_VALUE'],
      ['unknown output', post('/v2/models/digits/infer', { ...good, outputs: [{ name: 'logits' }] }), 400, 'UNKNOWN_OUTPUT'],
      ['batch over max_batch_size', post('/v2/models/digits/infer', inferRequest('digits', Array.from({ length: 65 }, (_, i) => i))), 400, 'BATCH_TOO_LARGE'],
      ['body too large', post('/v2/models/mnist/infer', inferRequest('mnist', Array.from({ length: 64 }, (_, i) => i))), 413, 'BODY_TOO_LARGE'],
      ['unsupported media type', rawRequest(vigil.port, 'POST', '/v2/models/digits/infer', { headers: { ...analyst, 'content-type': 'text/plain' }, body: JSON.stringify(good) }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['gzip content-encoding', rawRequest(vigil.port, 'POST', '/v2/models/digits/infer', { headers: { ...analyst, 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'x' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['GET on infer', get('/v2/models/digits/infer'), 405, 'METHOD_NOT_ALLOWED'],
      ['dot segments', get('/v2/models/../models/digits'), 400, 'INVALID_PATH'],
      ['encoded slash', get('/v2/models/digits%2Fversions%2F1'), 400, 'INVALID_PATH'],
      ['duplicate slash', get('/v2/models//digits'), 400, 'INVALID_PATH'],
      ['absolute-form', get('http://127.0.0.1/v2/models/digits'), 400, 'INVALID_PATH'],
      ['unknown endpoint', get('/v2/models/digits/explain'), 404, 'ROUTE_NOT_FOUND'],
    ];
    for (const [what, pending, status, code] of cases) {
      const r = await pending;
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.equal(r.json?.code, code, what);
      assert.equal(typeof r.json?.error, 'string', what);
      assert.equal(r.headers['content-type'], 'application/json', what);
    }
  });

  test('chunked bodies over the limit are cut off with 413 too', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: vigil.port, method: 'POST', path: '/v2/models/mnist/infer', headers: { ...analyst, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      for (let i = 0; i < 8; i++) req.write(chunk); // 128 KiB, no content-length: chunked
      req.end();
    });
    assert.equal(status, 413);
  });
});
