// The exact wire bytes of KServe's Python client (kserve/inference_client.py InferenceRESTClient
// with protocol "v2", protocol/infer_type.py InferRequest.to_rest): orjson's compact JSON with
// an `id` (a uuid4 when none is given) and the model's name in the body, binary inputs with a
// lower-case inference-header-content-length and application/octet-stream, httpx's default
// headers; and the answer read as InferResponse.from_bytes reads it (model_name required).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { loadHeldout } from '../helpers/heldout.js';
import { float32Bytes, PyFloat, pyJsonDumps } from '../helpers/python-wire.js';
import { rawRequest, startTestVigil, type RawResponse, type TestVigil } from '../helpers/vigil-harness.js';

/** to_rest(): id, model_name, inputs, [outputs], [parameters]; binary inputs' bytes after the JSON. */
function kserveRequest(model: string, rows: number[][], opts: { binary: boolean; outputs?: { name: string; parameters?: Record<string, unknown> }[]; parameters?: Record<string, unknown> }) {
  const input: Record<string, unknown> = { name: 'input', shape: [rows.length, 784], datatype: 'FP32' };
  if (opts.binary) input.parameters = { binary_data_size: rows.length * 784 * 4 };
  else input.data = rows.flat().map((v) => new PyFloat(Math.fround(v)));
  const request: Record<string, unknown> = { id: randomUUID(), model_name: model, inputs: [input] };
  if (opts.outputs) request.outputs = opts.outputs;
  if (opts.parameters) request.parameters = opts.parameters;
  const json = Buffer.from(pyJsonDumps(request, true));
  const httpx = { accept: '*/*', 'accept-encoding': 'gzip, deflate', connection: 'keep-alive', 'user-agent': 'python-httpx/0.27.0' };
  if (!opts.binary) return { body: json, headers: { ...httpx, 'content-type': 'application/json' }, id: request.id as string };
  return { body: Buffer.concat([json, float32Bytes(rows.flat())]), headers: { ...httpx, 'inference-header-content-length': String(json.length), 'content-type': 'application/octet-stream' }, id: request.id as string };
}

/** InferResponse.from_bytes: the JSON up to the header's length (or all of it), model_name and outputs required. */
function fromBytes(r: RawResponse) {
  const length = Number(r.headers['inference-header-content-length'] ?? r.bytes.length);
  const res = JSON.parse(r.bytes.subarray(0, length).toString('utf8')) as { model_name: string; id?: string; outputs: { name: string; datatype: string; shape: number[]; data?: number[]; parameters?: { binary_data_size?: number } }[] };
  assert.equal(typeof res.model_name, 'string', 'from_bytes raises KeyError without model_name');
  let at = length;
  const outputs: Record<string, number[]> = {};
  for (const o of res.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) {
      assert.ok(Array.isArray(o.data), `${o.name}: data, or InvalidInput`);
      outputs[o.name] = o.data;
      continue;
    }
    const bytes = new Uint8Array(r.bytes.subarray(at, at + size)).buffer;
    at += size;
    outputs[o.name] = o.datatype === 'INT64' ? Array.from(new BigInt64Array(bytes), Number) : Array.from(new Float32Array(bytes));
  }
  return { res, outputs };
}

describe('the kserve Python client (InferenceRESTClient, v2) against vigil', () => {
  let vigil: TestVigil;
  let auth: Record<string, string>;
  const heldout = loadHeldout('mnist');
  const rows = [heldout.inputs[43], heldout.inputs[44]];
  const labels = [heldout.labels[43], heldout.labels[44]];
  before(async () => {
    vigil = await startTestVigil();
    auth = { authorization: `Bearer ${await vigil.token('kserve-user', ['analyst'])}` };
  });
  after(() => vigil?.stop());
  const post = (wire: { body: Buffer; headers: Record<string, string> }) => rawRequest(vigil.port, 'POST', '/v2/models/mnist/infer', { headers: { ...auth, ...wire.headers }, body: wire.body });

  test('JSON data, no outputs named: a JSON answer with model_name, the id echoed, the right digits', async () => {
    const wire = kserveRequest('mnist', rows, { binary: false });
    const r = await post(wire);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/json');
    const { res, outputs } = fromBytes(r);
    assert.equal(res.model_name, 'mnist');
    assert.equal(res.id, wire.id);
    assert.deepEqual(outputs.label, labels);
  });

  test('binary data in, binary and JSON outputs out as asked', async () => {
    const wire = kserveRequest('mnist', rows, { binary: true, outputs: [{ name: 'label', parameters: { binary_data: true } }, { name: 'probabilities' }] });
    const r = await post(wire);
    assert.equal(r.status, 200, r.text);
    const { outputs } = fromBytes(r);
    assert.deepEqual(outputs.label, labels);
    assert.equal(outputs.probabilities.length, 20);
    const all = await post(kserveRequest('mnist', rows, { binary: true, parameters: { binary_data_output: true } }));
    assert.equal(all.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(fromBytes(all).outputs.label, labels);
  });

  test('a body naming another model than the path is refused, not rerouted; the error is read from JSON', async () => {
    const r = await post(kserveRequest('digits', rows, { binary: false }));
    assert.equal(r.status, 400);
    // _construct_http_status_error reads body["error"] when content-type is exactly application/json.
    assert.equal(r.headers['content-type'], 'application/json');
    assert.match(r.json.error, /the body names model "digits", but the path is model 'mnist'/);
  });
});
