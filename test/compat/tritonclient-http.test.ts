// The exact wire bytes of Triton's Python client, tritonclient.http (read from its source:
// tritonclient/http/_client.py, _utils.py _get_inference_request, _infer_input.py,
// _requested_output.py, _infer_result.py; its JSON is python-rapidjson's compact form, floats as
// Python's repr; geventhttpclient adds User-Agent, Host and, for a non-empty body only,
// Content-Length, and never a Content-Type), sent to vigil, and the answers read back the way that
// client reads them. No Python here: the bytes are rebuilt (test/helpers/python-wire.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { loadHeldout } from '../helpers/heldout.js';
import { deserializeBytesTensor, float32Bytes, PyFloat, pyJsonDumps } from '../helpers/python-wire.js';
import { rawExchange } from '../helpers/raw-exchange.js';
import { rawRequest, startTestVigil, type RawResponse, type TestVigil } from '../helpers/vigil-harness.js';

/** What InferInput('input', [n, 784], 'FP32').set_data_from_numpy(x, binary_data) puts in the request. */
function inferInput(rows: number[][], binary: boolean) {
  const tensor: Record<string, unknown> = { name: 'input', shape: [rows.length, 784], datatype: 'FP32' };
  if (binary) tensor.parameters = { binary_data_size: rows.length * 784 * 4 };
  else tensor.data = rows.flat().map((v) => new PyFloat(Math.fround(v)));
  return tensor;
}

/** _get_inference_request: id, inputs, outputs, then parameters (binary_data_output when no outputs are named). */
function tritonRequest(rows: number[][], opts: { binary: boolean; outputs?: { name: string; binary_data: boolean; class_count?: number }[]; id?: string; timeout?: number; priority?: number }) {
  const request: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  if (opts.id) request.id = opts.id;
  if (opts.priority) parameters.priority = opts.priority;
  if (opts.timeout !== undefined) parameters.timeout = opts.timeout;
  request.inputs = [inferInput(rows, opts.binary)];
  if (opts.outputs) {
    request.outputs = opts.outputs.map((o) => ({ name: o.name, parameters: { ...(o.class_count ? { classification: o.class_count } : {}), binary_data: o.binary_data } }));
  } else parameters.binary_data_output = true;
  if (Object.keys(parameters).length > 0) request.parameters = parameters;
  const json = Buffer.from(pyJsonDumps(request, true));
  if (!opts.binary) return { body: json, headers: {} as Record<string, string> };
  // struct.pack("{}s{}s", json, binary): the two, back to back.
  return { body: Buffer.concat([json, float32Bytes(rows.flat())]), headers: { 'Inference-Header-Content-Length': String(json.length) } };
}

/** InferResult.from_response_body and as_numpy: binary outputs located by binary_data_size after the header. */
function readResult(r: RawResponse) {
  const headerLength = r.headers['inference-header-content-length'];
  const json = headerLength === undefined ? r.bytes : r.bytes.subarray(0, Number(headerLength));
  const result = JSON.parse(json.toString('utf8')) as { outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[] };
  let at = headerLength === undefined ? 0 : Number(headerLength);
  const outputs: Record<string, { datatype: string; shape: number[]; values: unknown[] }> = {};
  for (const o of result.outputs) {
    const size = o.parameters?.binary_data_size;
    let values: unknown[];
    if (size === undefined) values = o.data!;
    else {
      const bytes = r.bytes.subarray(at, at + size);
      at += size;
      const aligned = new Uint8Array(bytes).buffer;
      values = o.datatype === 'FP32' ? Array.from(new Float32Array(aligned)) : o.datatype === 'INT64' ? Array.from(new BigInt64Array(aligned), Number) : deserializeBytesTensor(bytes);
    }
    assert.equal(values.length, o.shape.reduce((a, b) => a * b, 1), `${o.name}: as_numpy reshapes its data to its shape`);
    outputs[o.name] = { datatype: o.datatype, shape: o.shape, values };
  }
  return { result, outputs };
}

describe('tritonclient.http against vigil', () => {
  let vigil: TestVigil;
  let auth: Record<string, string>;
  const heldout = loadHeldout('mnist');
  const rows = [heldout.inputs[40], heldout.inputs[41], heldout.inputs[42]];
  const labels = [heldout.labels[40], heldout.labels[41], heldout.labels[42]];
  before(async () => {
    vigil = await startTestVigil();
    // tritonclient sends headers= as given (Authorization); geventhttpclient adds its User-Agent and no Content-Type.
    auth = { 'User-Agent': 'python/gevent-http-client-2.0.11', Authorization: `Bearer ${await vigil.token('triton-user', ['analyst'])}` };
  });
  after(() => vigil?.stop());
  const post = (path: string, wire: { body: Buffer; headers: Record<string, string> }) => rawRequest(vigil.port, 'POST', path, { headers: { ...auth, ...wire.headers }, body: wire.body });
  const get = (path: string) => rawRequest(vigil.port, 'GET', path, { headers: auth });

  test('infer with the defaults (binary input, no outputs named: binary_data_output): binary answers, the right digits', async () => {
    const wire = tritonRequest(rows, { binary: true });
    assert.equal(wire.body.subarray(0, Number(wire.headers['Inference-Header-Content-Length'])).toString(), '{"inputs":[{"name":"input","shape":[3,784],"datatype":"FP32","parameters":{"binary_data_size":9408}}],"parameters":{"binary_data_output":true}}');
    const r = await post('/v2/models/mnist/infer', wire);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    const { result, outputs } = readResult(r);
    assert.equal(result.outputs.every((o) => o.parameters?.binary_data_size !== undefined && o.data === undefined), true);
    assert.deepEqual(outputs.label.values, labels);
    assert.deepEqual(outputs.probabilities.shape, [3, 10]);
    // The same digits as JSON: the same answer, to the float.
    const json = await post('/v2/models/mnist/infer', tritonRequest(rows, { binary: false, outputs: [{ name: 'probabilities', binary_data: false }, { name: 'label', binary_data: false }] }));
    assert.equal(json.status, 200, json.text);
    assert.equal(json.headers['inference-header-content-length'], undefined);
    assert.equal(json.headers['content-type'], 'application/json');
    const fromJson = readResult(json).outputs;
    assert.deepEqual(outputs.probabilities.values, fromJson.probabilities.values.map((v) => Math.fround(v as number)));
    assert.deepEqual(fromJson.label.values, labels);
  });

  test('named outputs, binary and JSON mixed, with a version, an id, a timeout and a priority', async () => {
    const wire = tritonRequest(rows.slice(0, 1), { binary: true, id: 'req-7', timeout: 5_000_000, priority: 1, outputs: [{ name: 'label', binary_data: true }, { name: 'probabilities', binary_data: false }] });
    const r = await post('/v2/models/mnist/versions/1/infer', wire);
    assert.equal(r.status, 200, r.text);
    const { result, outputs } = readResult(r);
    assert.equal((result as unknown as { id: string }).id, 'req-7');
    assert.deepEqual(result.outputs.map((o) => o.name), ['label', 'probabilities']);
    assert.deepEqual(outputs.label.values, labels.slice(0, 1));
    assert.equal(outputs.probabilities.values.length, 10);
    assert.ok(result.outputs[1].data, 'probabilities as JSON data');
  });

  test('class_count=3: classification, as BYTES in binary, "value:index:label" best first', async () => {
    const r = await post('/v2/models/mnist/infer', tritonRequest(rows, { binary: true, outputs: [{ name: 'probabilities', binary_data: true, class_count: 3 }] }));
    assert.equal(r.status, 200, r.text);
    const { outputs } = readResult(r);
    assert.equal(outputs.probabilities.datatype, 'BYTES');
    assert.deepEqual(outputs.probabilities.shape, [3, 3]);
    for (let i = 0; i < 3; i++) {
      const [best, second] = outputs.probabilities.values.slice(i * 3, i * 3 + 2).map((s) => String(s).split(':'));
      assert.equal(Number(best[1]), labels[i]);
      assert.equal(best[2], String(labels[i]), 'the label from model.yaml');
      assert.ok(Number(best[0]) >= Number(second[0]));
    }
  });

  test('binary input goes through the same screening and audit: 0-255 pixels are refused by the declared range, and recorded', async () => {
    const wire = tritonRequest([rows[0].map((v) => v * 255)], { binary: true });
    const r = await post('/v2/models/mnist/infer', { ...wire, headers: { ...wire.headers, 'x-request-id': 'pixels-255' } });
    assert.equal(r.status, 400);
    // tritonclient raises InferenceServerException(msg=error_response["error"]).
    assert.equal(r.json.code, 'STRUCTURAL_CHECK_FAILED');
    assert.match(r.json.error, /outside the declared range \[0, 1\]/);
    let record: StoredAuditRecord | undefined;
    for await (const rec of queryAudit(vigil.config.audit.dir, { requestId: 'pixels-255' })) record = rec;
    assert.ok(record?.type === 'request');
    assert.equal(record.bytes_in, wire.body.length);
    assert.equal(record.findings?.[0].signal, 'value_range');
  });

  test('malformed binary: a size past the body, a NaN, a missing header length are refused by name, before any pool', async () => {
    const wire = tritonRequest(rows.slice(0, 1), { binary: true });
    const short = await post('/v2/models/mnist/infer', { ...wire, body: wire.body.subarray(0, wire.body.length - 8) });
    assert.equal(short.json.code, 'INVALID_BINARY_DATA');
    const nan = Buffer.from(wire.body);
    nan.writeFloatLE(NaN, Number(wire.headers['Inference-Header-Content-Length']) + 4 * 100);
    const r = await post('/v2/models/mnist/infer', { ...wire, body: nan });
    assert.equal(r.json.code, 'NON_FINITE_VALUE');
    assert.match(r.json.error, /element 100/);
    const noHeader = await post('/v2/models/mnist/infer', { body: wire.body, headers: {} });
    assert.equal(noHeader.status, 400);
    assert.equal(noHeader.json.code, 'INVALID_JSON', 'without the header the body is read as JSON, and is not');
    const octet = await post('/v2/models/mnist/infer', { body: wire.body, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(octet.status, 415);
    assert.match(octet.json.error, /inference-header-content-length/i);
  });

  test('get_model_metadata, get_model_config, get_inference_statistics, get_model_repository_index', async () => {
    const meta = await get('/v2/models/mnist');
    assert.equal(meta.status, 200);
    assert.deepEqual(meta.json.inputs[0], { name: 'input', datatype: 'FP32', shape: [-1, 784], parameters: { range: [0, 1] } });
    const config = await get('/v2/models/mnist/config');
    assert.equal(config.json.max_batch_size, 64);
    assert.deepEqual(config.json.input[0].dims, [784]);
    const stats = await get('/v2/models/mnist/stats');
    assert.equal(stats.json.model_stats[0].name, 'mnist');
    assert.ok(stats.json.model_stats[0].inference_count >= 7);
    // _post(request_uri="v2/repository/index", request_body=""): geventhttpclient sends no Content-Length for an empty body.
    const index = await rawExchange(vigil.port, `POST /v2/repository/index HTTP/1.1\r\nUser-Agent: ${auth['User-Agent']}\r\nAuthorization: ${auth.Authorization}\r\nHost: 127.0.0.1:${vigil.port}\r\n\r\n`);
    assert.match(index.head, /^HTTP\/1\.1 200 /);
    assert.ok(JSON.parse(index.body).some((m: { name: string; state: string }) => m.name === 'mnist' && m.state === 'READY'));
  });
});
