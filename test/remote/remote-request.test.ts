// What a remote OIP server is sent for a request that came in binary or asked for a form: plain
// JSON it can read, with nothing that would make it answer in a form vigil then misreads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelSignature } from '../../oip/src/signature.js';
import { validateInferenceRequest } from '../../oip/src/validate-request.js';
import { planRemote } from '../../serving/src/remote/remote-request.js';

const signature: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }, { name: 'flag', datatype: 'BOOL', shape: [-1, 1] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
  maxBatchSize: 4,
};

test('binary data goes to a remote as JSON values of its datatype, and none of vigil\'s own parameters go along', () => {
  const header = { model_name: 'm', inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } }, { name: 'flag', shape: [1, 1], datatype: 'BOOL', parameters: { binary_data_size: 1 } }], outputs: [{ name: 'y', parameters: { binary_data: true, classification: 2 } }], parameters: { binary_data_output: true, timeout: 100 } };
  const binary = Buffer.concat([Buffer.from(new Float32Array([0.5, -1]).buffer), Buffer.from([1])]);
  const checked = validateInferenceRequest(header, signature, binary);
  assert.ok(checked.ok);
  const plan = planRemote(checked.request, undefined, { model: 'm', version: '1', signature }, undefined);
  // timeout and priority are the caller's asks of vigil: a remote would queue or fail by them.
  assert.deepEqual(JSON.parse(plan.body.toString()), {
    inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [0.5, -1] }, { name: 'flag', shape: [1, 1], datatype: 'BOOL', data: [true] }],
    outputs: [{ name: 'y' }],
  });
});

test('a plain JSON request goes as the bytes the gateway validated', () => {
  const body = { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }, { name: 'flag', shape: [1, 1], datatype: 'BOOL', data: [false] }] };
  const raw = Buffer.from(JSON.stringify(body));
  const checked = validateInferenceRequest(JSON.parse(raw.toString()), signature);
  assert.ok(checked.ok);
  assert.equal(planRemote(checked.request, raw, { model: 'm', version: '1', signature }, undefined).body, raw);
});
