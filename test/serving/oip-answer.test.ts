import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelSignature } from '../../oip/src/signature.js';
import { answerByteLimit, checkAnswer, UNBOUNDED_ANSWER_BYTES } from '../../serving/src/remote/oip-answer.js';

const sig: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
    { name: 'label', datatype: 'INT64', shape: [-1, 1] },
  ],
  maxBatchSize: 8,
};
const probs = (shape: unknown, data: unknown, datatype = 'FP32') => ({ name: 'probabilities', datatype, shape, data });
const check = (answer: unknown, wanted = ['probabilities'], rows = 2) => checkAnswer(Buffer.from(typeof answer === 'string' ? answer : JSON.stringify(answer)), sig, wanted, rows);

test('a well-formed answer is accepted, nested data flattened, undeclared outputs dropped', () => {
  const r = check({ outputs: [probs([2, 2], [[0.1, 0.9], [0.8, 0.2]]), { name: 'secret', datatype: 'FP32', shape: [1], data: [1] }] });
  assert.ok(r.ok);
  assert.deepEqual([...r.outputs.keys()], ['probabilities']);
  assert.deepEqual(r.outputs.get('probabilities')!.data, [0.1, 0.9, 0.8, 0.2]);
});

for (const [name, answer, problem] of [
  ['not JSON', 'nope', /not JSON/],
  ['not an object', '[1,2]', /not a JSON object/],
  ['no outputs', { model_name: 'x' }, /no `outputs`/],
  ['a wanted output missing', { outputs: [] }, /'probabilities' is missing/],
  ['the wrong datatype', { outputs: [probs([2, 2], [1, 2, 3, 4], 'INT64')] }, /not of the declared datatype FP32/],
  ['the wrong rank', { outputs: [probs([4], [1, 2, 3, 4])] }, /shape/],
  ['the wrong row count', { outputs: [probs([3, 2], [1, 2, 3, 4, 5, 6])] }, /expected 2 rows/],
  ['the wrong width', { outputs: [probs([2, 3], [1, 2, 3, 4, 5, 6])] }, /dimension 1 of 2/],
  ['data that does not fill the shape', { outputs: [probs([2, 2], [1, 2, 3])] }, /holds 4 elements/],
  ['a string where a number belongs', { outputs: [probs([2, 2], [1, 2, '3', 4])] }, /element 2 is not a valid FP32 value/],
  ['a negative dimension', { outputs: [probs([-2, 2], [1, 2, 3, 4])] }, /shape/],
  ['an output twice', { outputs: [probs([2, 2], [1, 2, 3, 4]), probs([2, 2], [1, 2, 3, 4])] }, /twice/],
  ['a value past FP32 (Infinity once narrowed)', { outputs: [probs([2, 2], [1, 2, -1e39, 4])] }, /element 2 is not a valid FP32 value/],
  ['JSON nested past the bound', `{"outputs":${'['.repeat(100)}${']'.repeat(100)}}`, /nests deeper/],
] as const) {
  test(`an answer with ${name} is refused, saying so`, () => {
    const r = check(answer);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problem, problem);
  });
}

test('the answer size bound follows the signature: rows × declared elements, with slack; unbounded outputs get the fixed cap', () => {
  const small = answerByteLimit(sig, 2);
  assert.ok(small > 2 * 3 * 20 && small < 128 * 1024, `${small} bytes for 2 rows of 3 elements`);
  assert.ok(answerByteLimit(sig, 8) > small, 'more rows, more room');
  assert.equal(answerByteLimit({ ...sig, outputs: [{ name: 'text', datatype: 'BYTES', shape: [-1, 1] }] }, 2), UNBOUNDED_ANSWER_BYTES);
  assert.equal(answerByteLimit({ ...sig, outputs: [{ name: 'seq', datatype: 'FP32', shape: [-1, -1] }] }, 2), UNBOUNDED_ANSWER_BYTES);
});
