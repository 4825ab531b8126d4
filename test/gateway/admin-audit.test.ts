import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inferRequest } from '../helpers/heldout.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

describe('the audit log over the admin port (GET /audit)', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil();
    const alice = await vigil.auth(['analyst'], 'alice');
    await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), alice);
    await rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers: await vigil.auth(['analyst'], 'bob') });
    await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), await vigil.auth([], 'mallory'));
  });
  after(() => vigil.stop());

  test('an auditor asks who called which model with what decision', async () => {
    const auditor = await vigil.auth(['auditor'], 'sec-team');
    const denied = await rawRequest(vigil.adminPort, 'GET', '/audit?decision=deny&type=request', { headers: auditor });
    assert.equal(denied.status, 200);
    assert.deepEqual(
      denied.json.records.map((r: { principal: string; model: string; code: string; rule: string }) => [r.principal, r.model, r.code, r.rule]),
      [['user:mallory', 'mnist', 'FORBIDDEN', 'default-deny']],
    );
    const alice = await rawRequest(vigil.adminPort, 'GET', '/audit?principal=user:alice&model=digits', { headers: auditor });
    assert.equal(alice.json.records.length, 1);
    assert.equal(alice.json.records[0].decision, 'allow');
    assert.equal(alice.json.records[0].batch, 1);
    assert.equal(alice.json.records[0].trace_id, null, 'no exporter configured: no trace id, never an all-zero one');
    const bad = await rawRequest(vigil.adminPort, 'GET', '/audit?since=yesterday', { headers: auditor });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'INVALID_QUERY');
  });

  test('callers without audit:read are refused, and every query is itself audited', async () => {
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/audit')).json.code, 'AUTHENTICATION_REQUIRED');
    const analyst = await rawRequest(vigil.adminPort, 'GET', '/audit', { headers: await vigil.auth(['analyst'], 'carol') });
    assert.equal(analyst.status, 403);
    assert.equal(analyst.json.code, 'FORBIDDEN');
    const auditor = await vigil.auth(['auditor'], 'sec-team');
    const events = await rawRequest(vigil.adminPort, 'GET', '/audit?type=admin&action=audit*', { headers: auditor });
    const seen = events.json.records.map((r: { principal: string; outcome: string }) => `${r.principal}:${r.outcome}`);
    assert.ok(seen.includes('user:sec-team:ok'), seen.join(' '));
    assert.ok(seen.includes('user:carol:failed'), seen.join(' '));
  });
});
