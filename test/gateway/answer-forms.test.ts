// The answer-side helpers on what a model may really return: NaN and infinities (JSON carries
// them as null), and audit records whose source is not an address.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify } from '../../gateway/src/answers/classification.js';
import { reduceAnswer } from '../../gateway/src/answers/answer-detail.js';
import { toEcs } from '../../gateway/src/audit/ecs.js';
import type { StoredAuditRecord } from '../../gateway/src/audit/chain.js';
import { compileFilter } from '../../gateway/src/audit/query.js';

test('classification ranks a NaN (null in JSON) last and prints it as Triton does; rounding leaves it alone', () => {
  const outputs = [{ name: 'p', datatype: 'FP32' as const, shape: [1, 4], data: [0.2, null, Infinity, 0.7] as unknown as number[] }];
  reduceAnswer({ outputs }, { detail: 'rounded', decimals: 1 });
  classify(outputs, new Map([['p', 4]]), undefined);
  assert.deepEqual(outputs[0].data, ['inf:2', '0.700000:3', '0.200000:0', 'nan:1']);
});

test('ECS: source.ip only when the source is an address', () => {
  const rec = { type: 'request', time: '2026-01-01T00:00:00.000Z', source: 'unknown', status: 400, decision: 'invalid', latency_ms: 0, method: 'GET', principal: 'unauthenticated', request_id: 'r', client_request_id: null, action: null, rule: null, code: 'BAD_REQUEST_FRAMING', trace_id: null, bytes_in: 0, bytes_out: 0, model: null, version: null } as unknown as StoredAuditRecord;
  assert.deepEqual(toEcs(rec).source, { address: 'unknown' });
  assert.deepEqual(toEcs({ ...rec, source: '::1' } as StoredAuditRecord).source, { ip: '::1' });
});

test("a cursor reads a replica named like an Object property (constructor, toString) by its own entry only", () => {
  const filter = compileFilter({ after: { a: 5 } });
  for (const replica of ['constructor', 'toString', 'valueOf', '__proto__']) {
    assert.equal(filter({ type: 'admin', time: '2026-01-01T00:00:00.000Z', seq: 10, replica, event: 'x', principal: 'p', outcome: 'ok', detail: {} } as unknown as StoredAuditRecord), true, replica);
  }
  assert.equal(filter({ type: 'admin', time: '2026-01-01T00:00:00.000Z', seq: 5, replica: 'a', event: 'x', principal: 'p', outcome: 'ok', detail: {} } as unknown as StoredAuditRecord), false);
});
