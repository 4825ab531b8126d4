import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

const policy = (opts: { mode?: string; limitsMode?: string; models?: string } = {}) => `
version: 1
mode: ${opts.mode ?? 'enforce'}
roles:
  analyst: the demo models
grants:
  - id: analyst-models
    roles: [analyst]
    actions: [infer, metadata]
    models: [${opts.models ?? 'digits'}]
limits:
  mode: ${opts.limitsMode ?? 'enforce'}
  roles:
    analyst: { requests_per_minute: 4, items_per_minute: 20, concurrency: 8 }
`;

async function auditRecords(vigil: TestVigil): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for await (const r of queryAudit(vigil.config.audit.dir)) out.push(r);
  return out;
}

describe('rate limits through the gateway', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ policy: { file: await writePolicy(policy()) } });
  });
  after(() => vigil.stop());

  test('an inference costs its batch: 8 + 8 items pass, the next 8 exceed 20 items a minute', async () => {
    const headers = await vigil.auth(['analyst'], 'batcher');
    const first = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0, 1, 2, 3, 4, 5, 6, 7]), headers);
    assert.equal(first.status, 200);
    assert.equal(first.headers['ratelimit-policy'], '"requests";q=4;w=60, "items";q=20;w=60');
    assert.match(String(first.headers.ratelimit), /^"requests";r=3;t=\d+, "items";r=12;t=\d+$/);
    assert.equal((await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0, 1, 2, 3, 4, 5, 6, 7]), headers)).status, 200);
    const third = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0, 1, 2, 3, 4, 5, 6, 7]), headers);
    assert.equal(third.status, 429);
    assert.equal(third.json.code, 'RATE_LIMITED');
    assert.match(third.json.error, /items quota of 20 per 60 s/);
    assert.ok(Number(third.headers['retry-after']) >= 1 && Number(third.headers['retry-after']) <= 60);
    assert.match(String(third.headers.ratelimit), /"items";r=4;/);
    // A smaller batch still fits what is left.
    assert.equal((await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0, 1, 2, 3]), headers)).status, 200);
  });

  test('a refusal is audited with the stage that refused it and the version it was refused for', async () => {
    const headers = await vigil.auth(['analyst'], 'auditee');
    // No version in the path: select-version chose one before authorize refused.
    const denied = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), { ...headers, 'x-request-id': 'refused-mnist' });
    assert.equal(denied.status, 403);
    const served = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), { ...headers, 'x-request-id': 'served-digits' });
    assert.equal(served.status, 200);
    const records = await auditRecords(vigil);
    const refused = records.find((r) => r.type === 'request' && r.client_request_id === 'refused-mnist');
    const answered = records.find((r) => r.type === 'request' && r.client_request_id === 'served-digits');
    assert.ok(refused?.type === 'request' && answered?.type === 'request');
    assert.equal(refused.stage, 'authorize');
    assert.equal(refused.version, vigil.registry.resolve('mnist', undefined).version);
    assert.equal(refused.rule, 'default-deny');
    assert.equal(answered.stage, undefined, 'an answered request names no refusing stage');
  });

  test('exactly the quota passes when many requests arrive at once', async () => {
    const headers = await vigil.auth(['analyst'], 'burst');
    const results = await Promise.all(Array.from({ length: 30 }, () => rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers })));
    assert.equal(results.filter((r) => r.status === 200).length, 4);
    assert.equal(results.filter((r) => r.status === 429).length, 26);
  });
});

describe('shadow modes', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ policy: { file: await writePolicy(policy({ mode: 'shadow', limitsMode: 'shadow' })) } });
  });
  after(() => vigil.stop());

  test('shadow: what would be refused is served, and recorded with the rule that would have refused it', async () => {
    const headers = await vigil.auth(['analyst'], 'shadowed');
    const denied = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), { ...headers, 'x-request-id': 'shadow-authz' });
    assert.equal(denied.status, 200, 'not blocked in shadow mode');
    for (let i = 0; i < 5; i++) await rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers: { ...headers, 'x-request-id': `shadow-limit-${i}` } });
    const records = await auditRecords(vigil);
    const authz = records.find((r) => r.type === 'request' && r.client_request_id === 'shadow-authz');
    assert.ok(authz && authz.type === 'request');
    assert.equal(authz.decision, 'allow');
    // The policy's detectors section is left at its defaults (enforce): only its own modes are shadow.
    assert.deepEqual(
      Object.fromEntries(Object.entries(authz.modes).filter(([k]) => !k.startsWith('detector:'))),
      { authorization: 'shadow', limits: 'shadow' },
    );
    assert.deepEqual(authz.shadow_denials, ['default-deny']);
    const fifth = records.find((r) => r.type === 'request' && r.client_request_id === 'shadow-limit-4');
    assert.ok(fifth && fifth.type === 'request');
    assert.equal(fifth.status, 200);
    assert.deepEqual(fifth.shadow_denials, ['limit:requests']);
  });
});

describe('policy hot reload', () => {
  let vigil: TestVigil;
  let file: string;
  before(async () => {
    file = await writePolicy(policy({ models: 'digits' }));
    vigil = await startTestVigil({ policy: { file, watch: true } });
  });
  after(() => vigil.stop());

  test('a good policy applies without dropping the request in flight; a bad one changes nothing and is audited', async () => {
    const { authorization } = await vigil.auth(['analyst'], 'reloader');
    // A request whose body is still arriving when the policy changes under it.
    const body = Buffer.from(JSON.stringify(inferRequest('digits', [0])));
    const socket = connect(vigil.port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (d) => (text += d));
    const closed = once(socket, 'close');
    socket.write(`POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\nauthorization: ${authorization}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`);
    socket.write(body.subarray(0, 50));
    await new Promise((r) => setTimeout(r, 50));

    // New policy: analysts move from digits to mnist.
    const reloaded = once(vigil.policy, 'reloaded');
    await writeFile(file, policy({ models: 'mnist' }));
    await reloaded;
    socket.write(body.subarray(50));
    await closed;
    assert.match(text, /^HTTP\/1\.1 200 /, 'the in-flight request, authorized under the old policy, completed');
    const headers = { authorization };
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers })).status, 403);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/mnist', { headers })).status, 200);

    // A broken policy: the last good one stays in force.
    const failed = once(vigil.policy, 'reload-failed');
    await writeFile(file, policy({ models: 'mnist' }).replace('roles: [analyst]', 'roles: [analsyt]'));
    const [event] = (await failed) as [{ problems: string[] }];
    assert.match(event.problems.join('\n'), /analsyt/);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/mnist', { headers })).status, 200);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers })).status, 403);
    await new Promise((r) => setTimeout(r, 100));
    const admin = (await auditRecords(vigil)).filter((r) => r.type === 'admin' && r.event === 'policy.reload');
    assert.deepEqual(admin.map((r) => (r.type === 'admin' ? r.outcome : '')), ['ok', 'failed']);
  });
});
