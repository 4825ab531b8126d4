import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ModelSignature } from '../../oip/src/signature.js';
import { validateInferenceRequest } from '../../oip/src/validate-request.js';

const sig: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
    { name: 'label', datatype: 'INT64', shape: [-1, 1] },
  ],
  maxBatchSize: 3,
};
const ok = (data: unknown, shape = [1, 4]) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape, data }] });

function codeOf(body: unknown, s: ModelSignature = sig): string {
  const r = validateInferenceRequest(body, s);
  return r.ok ? 'OK' : r.code;
}

describe('inference request validation', () => {
  test('accepts flat and nested data, reports the batch size', () => {
    const flat = validateInferenceRequest(ok([0, 0.5, 1, 2], [1, 4]), sig);
    assert.ok(flat.ok);
    assert.equal(flat.batchSize, 1);
    const nested = validateInferenceRequest(ok([[0, 1, 2, 3], [4, 5, 6, 7]], [2, 4]), sig);
    assert.ok(nested.ok);
    assert.equal(nested.batchSize, 2);
  });

  const cases: [string, unknown, string][] = [
    ['a JSON array body', [1, 2], 'INVALID_INFERENCE_REQUEST'],
    ['no inputs', {}, 'INVALID_INFERENCE_REQUEST'],
    ['empty inputs', { inputs: [] }, 'INVALID_INFERENCE_REQUEST'],
    ['numeric id', { id: 7, ...ok([1, 2, 3, 4]) }, 'INVALID_INFERENCE_REQUEST'],
    ['parameters not an object', { parameters: [1], ...ok([1, 2, 3, 4]) }, 'INVALID_INFERENCE_REQUEST'],
    ['unknown input name', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }, 'UNKNOWN_INPUT'],
    ['duplicate input', { inputs: [ok([1, 2, 3, 4]).inputs[0], ok([1, 2, 3, 4]).inputs[0]] }, 'DUPLICATE_INPUT'],
    ['wrong datatype', { inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 4], data: [1, 2, 3, 4] }] }, 'DATATYPE_MISMATCH'],
    ['unknown datatype', { inputs: [{ name: 'input', datatype: 'FLOAT', shape: [1, 4], data: [1, 2, 3, 4] }] }, 'DATATYPE_MISMATCH'],
    ['wrong rank', ok([1, 2, 3, 4], [4]), 'SHAPE_MISMATCH'],
    ['wrong fixed dimension', ok([1, 2, 3], [1, 3]), 'SHAPE_MISMATCH'],
    ['negative dimension', ok([1, 2, 3, 4], [-1, 4]), 'SHAPE_MISMATCH'],
    ['fractional dimension', ok([1, 2, 3, 4], [1.5, 4]), 'SHAPE_MISMATCH'],
    ['zero batch', ok([], [0, 4]), 'SHAPE_MISMATCH'],
    ['batch over max_batch_size', ok(new Array(16).fill(0), [4, 4]), 'BATCH_TOO_LARGE'],
    ['too few elements', ok([1, 2, 3], [1, 4]), 'ELEMENT_COUNT_MISMATCH'],
    ['too many elements', ok([1, 2, 3, 4, 5], [1, 4]), 'ELEMENT_COUNT_MISMATCH'],
    ['ragged nesting', ok([[1, 2, 3, 4], [5, 6, 7]], [2, 4]), 'ELEMENT_COUNT_MISMATCH'],
    ['nesting deeper than the shape', ok([[[1], [2], [3], [4]]], [1, 4]), 'ELEMENT_COUNT_MISMATCH'],
    ['data not an array', ok('1,2,3,4'), 'ELEMENT_COUNT_MISMATCH'],
    ['a string element', ok([1, '2', 3, 4]), 'INVALID_ELEMENT'],
    ['a null element', ok([1, null, 3, 4]), 'INVALID_ELEMENT'],
    ['a boolean element', ok([1, true, 3, 4]), 'INVALID_ELEMENT'],
    ['Infinity (1e999 in JSON)', ok([1, Infinity, 3, 4]), 'NON_FINITE_VALUE'],
    ['beyond FP32 range', ok([1, 1e39, 3, 4]), 'NON_FINITE_VALUE'],
    ['unknown output', { ...ok([1, 2, 3, 4]), outputs: [{ name: 'logits' }] }, 'UNKNOWN_OUTPUT'],
    ['output without a name', { ...ok([1, 2, 3, 4]), outputs: [{}] }, 'INVALID_INFERENCE_REQUEST'],
    ['the same output twice', { ...ok([1, 2, 3, 4]), outputs: [{ name: 'label' }, { name: 'label' }] }, 'INVALID_INFERENCE_REQUEST'],
  ];
  for (const [what, body, code] of cases) {
    test(`${what} → ${code}`, () => assert.equal(codeOf(body), code));
  }

  test('a missing required input is named', () => {
    const two: ModelSignature = { ...sig, inputs: [...sig.inputs, { name: 'mask', datatype: 'BOOL', shape: [-1, 4] }] };
    const r = validateInferenceRequest(ok([1, 2, 3, 4]), two);
    assert.ok(!r.ok);
    assert.equal(r.code, 'MISSING_INPUT');
    assert.match(r.message, /'mask'/);
  });

  test('integer datatypes check their range, BOOL and BYTES their JSON type', () => {
    const int8: ModelSignature = { inputs: [{ name: 'x', datatype: 'INT8', shape: [2] }], outputs: [], maxBatchSize: 0 };
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'INT8', shape: [2], data: [-128, 127] }] }, int8), 'OK');
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'INT8', shape: [2], data: [1, 128] }] }, int8), 'VALUE_OUT_OF_RANGE');
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'INT8', shape: [2], data: [1, 1.5] }] }, int8), 'VALUE_OUT_OF_RANGE');
    const u64: ModelSignature = { inputs: [{ name: 'x', datatype: 'UINT64', shape: [1] }], outputs: [], maxBatchSize: 0 };
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'UINT64', shape: [1], data: [2 ** 60] }] }, u64), 'VALUE_OUT_OF_RANGE');
    const bool: ModelSignature = { inputs: [{ name: 'x', datatype: 'BOOL', shape: [2] }], outputs: [], maxBatchSize: 0 };
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'BOOL', shape: [2], data: [true, false] }] }, bool), 'OK');
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'BOOL', shape: [2], data: [true, 0] }] }, bool), 'INVALID_ELEMENT');
    const bytes: ModelSignature = { inputs: [{ name: 'x', datatype: 'BYTES', shape: [1] }], outputs: [], maxBatchSize: 0 };
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: ['hi'] }] }, bytes), 'OK');
    assert.equal(codeOf({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: [1] }] }, bytes), 'INVALID_ELEMENT');
  });

  test('the message points at the offending element', () => {
    const r = validateInferenceRequest(ok([0, 1, 'x', 3]), sig);
    assert.ok(!r.ok);
    assert.match(r.message, /element 2/);
  });
});
