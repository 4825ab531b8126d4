// Query budgets through the gateway: distinct rows per principal, per API-key owner, per source
// and per model, per window, as a caller spreading its queries over keys would meet them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { generateApiKey } from '../../policies/src/index.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { editedRepository, postJson, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

const keys = ['k1', 'k2', 'k3'].map((id) => ({ id, ...generateApiKey(id) }));
const policy = `
version: 1
roles: { analyst: demo }
grants:
  - { id: analyst-mnist, roles: [analyst], actions: [infer], models: [mnist] }
api_keys:
${keys.map((k) => `  - { id: ${k.id}, owner: team-a, roles: [analyst], hash: "${k.hash}" }`).join('\n')}
limits:
  roles: { analyst: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 } }
detectors:
  profile: { action: allow }
  squeeze: { action: allow }
  extraction: { action: allow }
  budget: { action: quarantine }
`;

/** The bundled models, with mnist's budgets replaced. */
const withBudget = (budget: Record<string, number>) =>
  editedRepository((yaml) => {
    const doc = parse(yaml) as { detectors?: Record<string, unknown> };
    if (!doc.detectors) return yaml;
    doc.detectors.budget = budget;
    return stringify(doc);
  });

async function budgetFindings(vigil: TestVigil, clientId: string) {
  for await (const r of queryAudit(vigil.config.audit.dir)) {
    if (r.type === 'request' && r.client_request_id === clientId) return (r as StoredAuditRecord & { type: 'request' }).findings?.filter((f) => f.detector === 'budget') ?? [];
  }
  throw new Error(`no audit record for ${clientId}`);
}

/** Rows from..from+n of mnist's held-out set, as one request. */
const rows = (from: number, n: number) => inferRequest('mnist', Array.from({ length: n }, (_, i) => from + i));

describe('query budgets: principal and API-key owner', () => {
  let vigil: TestVigil;
  let repo: Awaited<ReturnType<typeof editedRepository>>;
  let alice: Record<string, string>;
  before(async () => {
    repo = await withBudget({ principal: 20, owner: 30, source: 10_000 });
    vigil = await startTestVigil({ models: { repository: repo.dir }, policy: { file: await writePolicy(policy) } });
    alice = await vigil.auth(['analyst'], 'alice');
  });
  after(async () => {
    await vigil?.stop();
    await repo?.cleanup();
  });

  // Counts are HyperLogLog estimates (a small one can be a row or two short, never over), so each step stays clear of a budget.
  test('a principal is answered up to its budget of distinct rows; repeats are free; past it, refused with the count and the window', async () => {
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', rows(0, 15), { ...alice, 'x-request-id': 'b-15' })).status, 200);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', rows(5, 10), { ...alice, 'x-request-id': 'b-repeat' })).status, 200, 'rows already counted');
    const over = await postJson(vigil.port, '/v2/models/mnist/infer', rows(15, 10), { ...alice, 'x-request-id': 'b-25' });
    assert.deepEqual([over.status, over.json.code], [403, 'PRINCIPAL_QUARANTINED']);
    const [f] = await budgetFindings(vigil, 'b-25');
    assert.match(f.detail ?? '', /2\d distinct rows this day from this principal, budget 20, until \d{4}-\d\d-\d\d 00:00 UTC/);
    assert.deepEqual([f.signal, f.threshold, f.action], ['principal', 20, 'quarantine']);
    assert.ok(f.score >= 23 && f.score <= 25, `counted ${f.score} of 25`);
  });

  test('API keys of one owner share its budget: the third key of team-a is refused though each key is under its own', async () => {
    const statuses = [];
    for (const [i, k] of keys.entries()) {
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', rows(100 + 12 * i, 12), { 'x-api-key': k.key, 'x-request-id': `owner-${i}` });
      statuses.push(r.status === 200 ? 200 : `${r.status} ${r.json.code}`);
    }
    assert.deepEqual(statuses, [200, 200, '403 PRINCIPAL_QUARANTINED']);
    const findings = await budgetFindings(vigil, 'owner-2');
    assert.deepEqual(findings.map((f) => [f.signal, f.threshold]), [['owner', 30]]);
    assert.ok(findings[0].score >= 33 && findings[0].score <= 36, `counted ${findings[0].score} of 36`);
  });
});

describe('query budgets: source and all callers together', () => {
  let vigil: TestVigil;
  let repo: Awaited<ReturnType<typeof editedRepository>>;
  before(async () => {
    repo = await withBudget({ principal: 1000, source: 40, model: 30 });
    vigil = await startTestVigil({ models: { repository: repo.dir }, policy: { file: await writePolicy(policy) } });
  });
  after(async () => {
    await vigil?.stop();
    await repo?.cleanup();
  });

  test('the model-wide budget only flags (it never refuses a caller for everyone\u2019s traffic); a source past its budget is refused, whoever it claims to be', async () => {
    const alice = await vigil.auth(['analyst'], 'alice');
    const bob = await vigil.auth(['analyst'], 'bob');
    const a = await postJson(vigil.port, '/v2/models/mnist/infer', rows(0, 35), { ...alice, 'x-request-id': 'm-35' });
    assert.equal(a.status, 200);
    assert.deepEqual((await budgetFindings(vigil, 'm-35')).map((f) => [f.signal, f.action]), [['model', 'flag']]);
    const b = await postJson(vigil.port, '/v2/models/mnist/infer', rows(35, 10), { ...bob, 'x-request-id': 's-45' });
    assert.deepEqual([b.status, b.json.code], [403, 'QUERY_BUDGET_EXCEEDED']);
    const findings = await budgetFindings(vigil, 's-45');
    assert.deepEqual(findings.map((f) => [f.signal, f.action]), [['source', 'block']], 'the model-wide alarm was raised once, by the request that crossed it');
    assert.ok(findings[0].score >= 42 && findings[0].score <= 46, `${findings[0].score}`);
  });

  test('an address past its budget is blocked, never quarantined: the principal that crossed it may not be the one that spent it', async () => {
    const carol = await vigil.auth(['analyst'], 'carol');
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', rows(0, 1), { ...carol, 'x-request-id': 'carol' });
    assert.deepEqual([r.status, r.json.code], [403, 'QUERY_BUDGET_EXCEEDED']);
    const [f] = await budgetFindings(vigil, 'carol');
    assert.deepEqual([f.signal, f.action], ['source', 'block']);
  });
});
