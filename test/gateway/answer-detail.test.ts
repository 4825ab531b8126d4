// Less of the answer for some roles (issue 15, item 5): an extractor learns far more from
// confidences than from the top class alone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { answerDetailFor } from '../../gateway/src/answers/answer-detail.js';
import { policySchema } from '../../policies/src/index.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

const policy = `
version: 1
roles: { analyst: all of it, partner: the class only, public: rounded }
grants:
  - { id: mnist, roles: [analyst, partner, public], actions: [infer], models: [mnist] }
limits:
  roles:
    analyst: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
    partner: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
    public: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
answers:
  roles:
    partner: { detail: top1 }
    public: { detail: rounded, decimals: 1 }
`;

describe('answers by role', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ policy: { file: await writePolicy(policy) } });
  });
  after(() => vigil?.stop());

  const infer = async (roles: string[], id: string) => {
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [1000, 1001, 1002]), { ...(await vigil.auth(roles, `u-${id}`)), 'x-request-id': id });
    assert.equal(r.status, 200, r.text);
    const out = (name: string) => r.json.outputs.find((o: { name: string }) => o.name === name);
    return { probs: out('probabilities'), label: out('label') };
  };
  const auditOf = async (id: string) => {
    for await (const r of queryAudit(vigil.config.audit.dir)) if (r.type === 'request' && r.client_request_id === id) return r as StoredAuditRecord & { type: 'request' };
    throw new Error(`no record for ${id}`);
  };

  test('top1: each row of probabilities is one-hot on the predicted class; the label output and the shapes are as before', async () => {
    const full = await infer(['analyst'], 'full');
    const top1 = await infer(['partner'], 'top1');
    assert.deepEqual(top1.probs.shape, full.probs.shape);
    assert.deepEqual(top1.label, full.label);
    for (let row = 0; row < 3; row++) {
      const p = top1.probs.data.slice(row * 10, row * 10 + 10);
      assert.deepEqual(p.filter((v: number) => v !== 0), [1]);
      assert.equal(p.indexOf(1), full.label.data[row]);
    }
    assert.ok(full.probs.data.some((v: number) => v > 0 && v < 1), 'the analyst sees confidences');
    assert.equal((await auditOf('top1')).answer_detail, 'top1');
    assert.equal((await auditOf('full')).answer_detail, undefined);
  });

  test('rounded: one decimal; a caller with two roles gets the more detailed of them', async () => {
    const rounded = await infer(['public'], 'rounded');
    assert.ok(rounded.probs.data.every((v: number) => Number(v.toFixed(1)) === v));
    assert.equal((await auditOf('rounded')).answer_detail, 'rounded:1');
    const both = await infer(['partner', 'public'], 'both');
    assert.ok(both.probs.data.every((v: number) => Number(v.toFixed(1)) === v) && both.probs.data.some((v: number) => v > 0 && v < 1), 'rounded, not top1');
  });

  test('the policy refuses an unknown role or "*" under answers.roles, and an unknown detail', () => {
    const base = { version: 1, roles: { analyst: 'x' } };
    assert.equal(policySchema.safeParse({ ...base, answers: { roles: { ghost: { detail: 'top1' } } } }).success, false);
    assert.equal(policySchema.safeParse({ ...base, answers: { roles: { '*': { detail: 'top1' } } } }).success, false);
    assert.equal(policySchema.safeParse({ ...base, answers: { default: { detail: 'vague' } } }).success, false);
    const answers = policySchema.parse({ ...base, answers: { default: { detail: 'top1' } } }).answers;
    assert.deepEqual(answerDetailFor(answers, ['nobody']), { detail: 'top1', decimals: 2 }, 'callers with no listed role get the default');
  });
});
