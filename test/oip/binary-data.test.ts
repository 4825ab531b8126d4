// The binary tensor data extension, byte by byte: what Triton's clients send must decode to the
// same tensor as its JSON form, and every way the bytes can lie must be refused by name.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeBinaryTensor, encodeBinaryTensor, headerLengthOf } from '../../oip/src/binary-data.js';
import { decodeAnswer, encodeAnswer } from '../../oip/src/infer-answer.js';
import type { ModelSignature } from '../../oip/src/signature.js';
import { validateInferenceRequest } from '../../oip/src/validate-request.js';

const sig: ModelSignature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 3] },
    { name: 'flag', datatype: 'BOOL', shape: [-1, 1] },
    { name: 'id', datatype: 'INT64', shape: [-1, 1] },
    { name: 'text', datatype: 'BYTES', shape: [-1, 1] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
  maxBatchSize: 8,
};

/** A body as tritonclient builds one: the JSON header, then each binary input's bytes in order. */
function binaryBody(inputs: { name: string; datatype: string; shape: number[]; bytes: Buffer }[], extra: Record<string, unknown> = {}) {
  const header = Buffer.from(JSON.stringify({ ...extra, inputs: inputs.map(({ name, datatype, shape, bytes }) => ({ name, shape, datatype, parameters: { binary_data_size: bytes.length } })) }));
  return { header, body: Buffer.concat([header, ...inputs.map((i) => i.bytes)]) };
}

const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const bytesOf = (strings: string[]) => encodeBinaryTensor('BYTES', strings);
const good = () => [
  { name: 'x', datatype: 'FP32', shape: [2, 3], bytes: f32([0, 0.5, 1, -1, 2.25, 3]) },
  { name: 'flag', datatype: 'BOOL', shape: [2, 1], bytes: Buffer.from([1, 0]) },
  { name: 'id', datatype: 'INT64', shape: [2, 1], bytes: Buffer.from(new BigInt64Array([7n, -9007199254740991n]).buffer) },
  { name: 'text', datatype: 'BYTES', shape: [2, 1], bytes: bytesOf(['héllo', '']) },
];

function check(inputs = good(), extra: Record<string, unknown> = {}) {
  const { header, body } = binaryBody(inputs, extra);
  return validateInferenceRequest(JSON.parse(header.toString()), sig, body.subarray(header.length));
}

describe('binary tensor data: requests', () => {
  test('decodes to the same values as the JSON form of the request', () => {
    const r = check();
    assert.ok(r.ok, JSON.stringify(r));
    const [x, flag, id, text] = r.request.inputs;
    assert.deepEqual(Array.from(x.data as Float32Array), [0, 0.5, 1, -1, 2.25, 3]);
    assert.deepEqual(Array.from(flag.data as Uint8Array), [1, 0]);
    assert.deepEqual(Array.from(id.data as Float64Array), [7, -9007199254740991]);
    assert.deepEqual(text.data, ['héllo', '']);
    assert.equal(r.batchSize, 2);
  });

  test('an unaligned slice of the body decodes the same (the JSON header has any length)', () => {
    const bytes = f32([1, 2, 3, 4, 5, 6]);
    const padded = Buffer.concat([Buffer.from([9]), bytes]).subarray(1);
    assert.equal(padded.byteOffset % 4 !== 0 || padded.byteOffset === 0, true);
    assert.deepEqual(Array.from(decodeBinaryTensor('FP32', padded, 6) as Float32Array), [1, 2, 3, 4, 5, 6]);
  });

  const refusals: [string, () => ReturnType<typeof check>, string, RegExp][] = [
    ['a size that does not match the shape', () => check(good().map((i) => (i.name === 'x' ? { ...i, bytes: f32([1, 2, 3, 4, 5]) } : i))), 'INVALID_BINARY_DATA', /6 FP32 elements take 24 bytes.*20/],
    ['a size past the end of the body', () => {
      const { header, body } = binaryBody(good());
      return validateInferenceRequest(JSON.parse(header.toString()), sig, body.subarray(header.length, body.length - 3));
    }, 'INVALID_BINARY_DATA', /only \d+ remain/],
    ['bytes left after the last tensor', () => {
      const { header, body } = binaryBody(good());
      return validateInferenceRequest(JSON.parse(header.toString()), sig, Buffer.concat([body.subarray(header.length), Buffer.from([0, 0])]));
    }, 'INVALID_BINARY_DATA', /2 bytes of binary data follow/],
    ['NaN in FP32 bytes', () => check(good().map((i) => (i.name === 'x' ? { ...i, bytes: f32([0, NaN, 0, 0, 0, 0]) } : i))), 'NON_FINITE_VALUE', /input 'x' element 1/],
    ['infinity in FP32 bytes', () => check(good().map((i) => (i.name === 'x' ? { ...i, bytes: f32([0, 0, 0, 0, 0, -Infinity]) } : i))), 'NON_FINITE_VALUE', /element 5/],
    ['a BOOL byte other than 0 or 1', () => check(good().map((i) => (i.name === 'flag' ? { ...i, bytes: Buffer.from([1, 2]) } : i))), 'INVALID_ELEMENT', /input 'flag' element 1/],
    ['an INT64 past 2^53', () => check(good().map((i) => (i.name === 'id' ? { ...i, bytes: Buffer.from(new BigInt64Array([1n, 2n ** 60n]).buffer) } : i))), 'VALUE_OUT_OF_RANGE', /element 1/],
    ['a BYTES length past its data', () => check(good().map((i) => (i.name === 'text' ? { ...i, bytes: Buffer.from([255, 255, 255, 127, 65]) } : i))), 'INVALID_BINARY_DATA', /past the end/],
    ['BYTES that are not UTF-8', () => check(good().map((i) => (i.name === 'text' ? { ...i, bytes: Buffer.concat([bytesOf(['a']), Buffer.from([1, 0, 0, 0, 0xff])]) } : i))), 'INVALID_ELEMENT', /element 1/],
    ['binary_data_size on a JSON body', () => validateInferenceRequest(JSON.parse(binaryBody(good()).header.toString()), sig), 'INVALID_BINARY_DATA', /no inference-header-content-length/],
    ['both data and binary_data_size', () => {
      const { header, body } = binaryBody(good());
      const parsed = JSON.parse(header.toString());
      parsed.inputs[0].data = [1, 2, 3, 4, 5, 6];
      return validateInferenceRequest(parsed, sig, body.subarray(header.length));
    }, 'INVALID_BINARY_DATA', /both data and binary_data_size/],
    ['a negative binary_data_size', () => {
      const { header, body } = binaryBody(good());
      const parsed = JSON.parse(header.toString());
      parsed.inputs[0].parameters.binary_data_size = -4;
      return validateInferenceRequest(parsed, sig, body.subarray(header.length));
    }, 'INVALID_INFERENCE_REQUEST', /binary_data_size must be a non-negative integer/],
    ['binary_data_output that is not a boolean', () => check(good(), { parameters: { binary_data_output: 'yes' } }), 'INVALID_INFERENCE_REQUEST', /binary_data_output must be true or false/],
    ['a timeout that is not a count', () => check(good(), { parameters: { timeout: 1.5 } }), 'INVALID_INFERENCE_REQUEST', /timeout must be a non-negative integer/],
    ['classification of zero classes', () => check(good(), { outputs: [{ name: 'y', parameters: { classification: 0 } }] }), 'INVALID_INFERENCE_REQUEST', /classification must be a positive integer/],
  ];
  for (const [what, run, code, message] of refusals) {
    test(`refuses ${what} with ${code}`, () => {
      const r = run();
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.code, code, r.message);
      assert.match(r.message, message);
    });
  }

  test('the header length must be a whole number within the body', () => {
    assert.equal(headerLengthOf(undefined, 10), undefined);
    assert.equal(headerLengthOf('10', 10), 10);
    for (const bad of ['11', '-1', '1e3', ' 5', '0x10', '', '1']) assert.equal(typeof headerLengthOf(bad, 10), 'object', bad);
  });
});

describe('binary tensor data: answers', () => {
  const outputs = [
    { name: 'probabilities', datatype: 'FP32' as const, shape: [1, 3], data: new Float32Array([0.25, 0.5, 0.25]) },
    { name: 'label', datatype: 'INT64' as const, shape: [1, 1], data: new BigInt64Array([1n]) },
    { name: 'ok', datatype: 'BOOL' as const, shape: [1, 1], data: new Uint8Array([1]) },
  ];

  test('binary outputs carry binary_data_size and follow the JSON header in order; the rest stay JSON', () => {
    const { body, headerLength } = encodeAnswer({ model_name: 'm', model_version: '1' }, outputs, new Set(['probabilities', 'ok']));
    assert.ok(headerLength !== undefined);
    const header = JSON.parse(body.subarray(0, headerLength).toString());
    assert.deepEqual(header.outputs[0], { name: 'probabilities', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } });
    assert.deepEqual(header.outputs[1], { name: 'label', datatype: 'INT64', shape: [1, 1], data: [1] });
    assert.deepEqual(header.outputs[2], { name: 'ok', datatype: 'BOOL', shape: [1, 1], parameters: { binary_data_size: 1 } });
    assert.deepEqual(Array.from(new Float32Array(new Uint8Array(body.subarray(headerLength, headerLength + 12)).buffer)), [0.25, 0.5, 0.25]);
    assert.equal(body[headerLength + 12], 1);
    assert.equal(body.length, headerLength + 13);
  });

  test('an answer decodes to the same values whatever form it was encoded in', () => {
    const json = encodeAnswer({ model_name: 'm' }, outputs);
    assert.equal(json.headerLength, undefined);
    const binary = encodeAnswer({ model_name: 'm' }, outputs, new Set(['probabilities', 'label', 'ok']));
    assert.deepEqual(decodeAnswer(binary.body, binary.headerLength), decodeAnswer(json.body, undefined));
    assert.deepEqual(decodeAnswer(json.body, undefined).outputs.map((o) => o.data), [[0.25, 0.5, 0.25], [1], [true]]);
  });

  test('a leading U+FEFF in BYTES is data, kept as JSON keeps it', () => {
    assert.deepEqual(decodeBinaryTensor('BYTES', encodeBinaryTensor('BYTES', ['\ufeffabc', 'x']), 2), ['\ufeffabc', 'x']);
  });

  test("a model's NaN or infinity in a binary answer is read as it is (requests refuse them; answers are the model's)", () => {
    const { body, headerLength } = encodeAnswer({}, [{ name: 'p', datatype: 'FP32', shape: [1, 3], data: new Float32Array([0.1, NaN, -Infinity]) }], new Set(['p']));
    const [p] = decodeAnswer(body, headerLength).outputs;
    assert.ok(Number.isNaN((p.data as number[])[1]));
    assert.equal((p.data as number[])[2], -Infinity);
  });

  test('a null (a NaN in JSON) re-encoded as binary is NaN again, never 0', () => {
    const bytes = encodeBinaryTensor('FP32', [0.5, null as unknown as number]);
    assert.ok(Number.isNaN(new Float32Array(new Uint8Array(bytes).buffer)[1]));
  });

  test('FP16 goes both ways within half precision', () => {
    const bytes = encodeBinaryTensor('FP16', [0, 1, -2.5, 65504, 0.000061035156]);
    assert.deepEqual(Array.from(decodeBinaryTensor('FP16', bytes, 5) as Float32Array), [0, 1, -2.5, 65504, 0.00006103515625]);
    assert.equal((decodeBinaryTensor('FP16', Buffer.from([0x00, 0x7c]), 1) as { kind: string }).kind, 'non_finite');
  });

  test('a broken binary answer is refused, never half read', () => {
    const { body, headerLength } = encodeAnswer({}, outputs, new Set(['probabilities']));
    assert.throws(() => decodeAnswer(body.subarray(0, body.length - 1), headerLength), /binary_data_size/);
    assert.throws(() => decodeAnswer(Buffer.concat([body, Buffer.from([0])]), headerLength), /bytes after its last output/);
  });
});
