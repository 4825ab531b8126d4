// Regressions for defects a security review found (each confirmed against a running vigil before the fix).
import assert from 'node:assert/strict';
import { once, EventEmitter } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { createContext } from '../../gateway/src/context.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

async function records(vigil: TestVigil): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for await (const r of queryAudit(vigil.config.audit.dir)) out.push(r);
  return out;
}

/** Sends a request's headers (and part of its body), then drops the connection. */
async function sendAndDrop(port: number, head: string, partialBody: string, waitMs: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(head + partialBody);
  await new Promise((r) => setTimeout(r, waitMs));
  socket.destroy();
}

describe('requests whose client leaves', () => {
  let vigil: TestVigil;
  before(async () => {
    const policy = await writePolicy(`version: 1
roles: { analyst: x }
grants: [{ id: g, roles: [analyst], actions: [infer, metadata], models: [digits] }]
limits: { roles: { analyst: { requests_per_minute: 10000, concurrency: 2 } } }
`);
    vigil = await startTestVigil({ policy: { file: policy } });
  });
  after(() => vigil.stop());

  test('a client gone while the pool works is audited (499 CLIENT_CLOSED) and frees its slot', async () => {
    const { authorization } = await vigil.auth(['analyst'], 'leaver');
    const served = vigil.registry.resolve('digits', undefined);
    assert.ok(served.status === 'serving');
    const pid = served.pool!.workers[0].pid!;
    process.kill(pid, 'SIGSTOP'); // the pool is "working" for as long as we like
    let gone: StoredAuditRecord[];
    try {
      const body = JSON.stringify(inferRequest('digits', [0]));
      const head = `POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\nauthorization: ${authorization}\r\nx-request-id: left-1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
      for (let i = 0; i < 3; i++) await sendAndDrop(vigil.port, head, body, 100);
      // Still stopped: the pool cannot answer, so the gateway must see each client leave first.
      gone = await waitFor('the abandoned requests to be audited', async () => {
        const left = (await records(vigil)).filter((r) => r.type === 'request' && r.client_request_id === 'left-1');
        return left.length === 3 ? left : undefined;
      });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    for (const r of gone) {
      assert.ok(r.type === 'request');
      assert.equal(r.status, 499);
      assert.equal(r.code, 'CLIENT_CLOSED');
    }
    // With a cap of 2 in flight, a leaked slot would refuse at least one of these.
    const headers = { authorization };
    const after = await Promise.all([0, 1].map(() => postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [1]), headers)));
    assert.deepEqual(after.map((r) => r.status), [200, 200]);
  });

  test('a client gone mid-body is audited too (BODY_INCOMPLETE), not left hanging', async () => {
    const { authorization } = await vigil.auth(['analyst'], 'halfway');
    const head = `POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\nauthorization: ${authorization}\r\nx-request-id: half-1\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n`;
    await sendAndDrop(vigil.port, head, '{"inputs": [', 100);
    const rec = await waitFor('the dropped upload to be audited', async () => (await records(vigil)).find((r) => r.type === 'request' && r.client_request_id === 'half-1'));
    assert.ok(rec.type === 'request');
    assert.equal(rec.code, 'BODY_INCOMPLETE');
    assert.equal(rec.status, 499);
  });

  test('work registered after the client left runs at once (a late concurrency slot cannot leak)', () => {
    const res = new EventEmitter() as unknown as ServerResponse;
    const ctx = createContext({ headers: {}, socket: { remoteAddress: '192.0.2.1' } } as unknown as IncomingMessage, res);
    let released = 0;
    ctx.onClose(() => released++);
    (res as unknown as EventEmitter).emit('close');
    assert.equal(released, 1);
    ctx.onClose(() => released++);
    assert.equal(released, 2, 'registered after close: run immediately');
  });
});

describe('the admin port', () => {
  let vigil: TestVigil;
  before(async () => {
    const policy = await writePolicy(`version: 1
mode: shadow
roles: { analyst: x, auditor: y }
grants:
  - { id: g, roles: [analyst], actions: [infer], models: [digits] }
  - { id: a, roles: [auditor], actions: ["audit:read"] }
`);
    vigil = await startTestVigil({ policy: { file: policy } });
  });
  after(() => vigil.stop());

  test('shadow mode never opens it: anonymous and unauthorized callers are still refused', async () => {
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/audit')).status, 401);
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/status')).status, 401);
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/audit', { headers: await vigil.auth(['analyst']) })).status, 403);
  });

  test('failed admin authentication is audited, and a pasted secret in a query is not', async () => {
    const bad = await rawRequest(vigil.adminPort, 'GET', '/status', { headers: { authorization: 'Bearer not.a.token' } });
    assert.equal(bad.json.code, 'TOKEN_MALFORMED');
    const auditor = await vigil.auth(['auditor'], 'sec');
    const pasted = await rawRequest(vigil.adminPort, 'GET', '/audit?access_token=SECRET-IN-QUERY&limit=1', { headers: auditor });
    assert.equal(pasted.status, 400);
    assert.equal(pasted.json.code, 'INVALID_QUERY');
    assert.ok(!JSON.stringify(pasted.json).includes('SECRET-IN-QUERY'), 'the error does not echo the pasted secret');
    const all = await records(vigil);
    assert.ok(all.some((r) => r.type === 'admin' && r.outcome === 'failed' && r.detail.code === 'TOKEN_MALFORMED'));
    assert.ok(!JSON.stringify(all).includes('SECRET-IN-QUERY'), 'the raw query never reaches the log');
  });
});
