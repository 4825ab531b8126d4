import { INVALID_REQUEST_CODES } from '../../gateway/src/respond.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { verifyAudit } from '../../gateway/src/audit/verify.js';
import { generateApiKey } from '../../policies/src/index.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { receivedBy, RecordingPoolLauncher } from '../helpers/recording-pool.js';
import { postJson, rawRequest, startTestVigil, type RawResponse, type TestVigil } from '../helpers/vigil-harness.js';

const svc = generateApiKey('svc');
const old = generateApiKey('old');

const POLICY = `
version: 1
roles:
  analyst: digits only
  admin: everything
grants:
  - id: analyst-digits
    roles: [analyst]
    actions: [infer, metadata]
    models: [digits]
  - id: admins
    roles: [admin]
    actions: ["*"]
    models: ["*"]
api_keys:
  - { id: svc, owner: tests, roles: [analyst], hash: "${svc.hash}" }
  - { id: old, owner: tests, roles: [analyst], hash: "${old.hash}", expires: "2020-01-01T00:00:00Z" }
limits:
  roles:
    analyst: { requests_per_minute: 100000, items_per_minute: 1000000, concurrency: 64 }
    admin: { requests_per_minute: 100000, items_per_minute: 1000000, concurrency: 64 }
`;

describe('the secured endpoint, played by an attacker (nothing refused reaches a pool)', () => {
  let vigil: TestVigil;
  let analyst: Record<string, string>;
  const sent: { id: string; status: number; code: string | undefined }[] = [];

  async function attempt(path: string, headers: Record<string, string>, body: unknown = inferRequest('digits', [0]), method = 'POST'): Promise<RawResponse> {
    const id = `attack-${sent.length}`;
    const r =
      method === 'POST'
        ? await postJson(vigil.port, path, body, { ...headers, 'x-request-id': id })
        : await rawRequest(vigil.port, method, path, { headers: { ...headers, 'x-request-id': id } });
    sent.push({ id, status: r.status, code: r.json?.code });
    return r;
  }

  before(async () => {
    vigil = await startTestVigil(
      { policy: { file: await writePolicy(POLICY) }, auth: { failures: { block_after: 20, block_s: 60, slow_after: 1000 } } },
      { launcher: new RecordingPoolLauncher() },
    );
    analyst = await vigil.auth(['analyst']);
  });
  after(() => vigil.stop());

  test('the legitimate caller gets through, with a token or an API key', async () => {
    assert.equal((await attempt('/v2/models/digits/infer', analyst)).status, 200);
    assert.equal((await attempt('/v2/models/digits/infer', { 'x-api-key': svc.key })).status, 200);
    assert.equal(await receivedBy(vigil.runtimeDir, 'digits'), 2);
  });

  test('forged, expired and algorithm tricks are refused with their own codes', async () => {
    const now = Math.floor(Date.now() / 1000);
    const attacker = await generateKeyPair('ES256');
    const forged = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'ES256', kid: (await exportJWK(attacker.publicKey)).x })
      .setIssuer('vigil-dev').setAudience('vigil').setSubject('mallory').setIssuedAt(now).setExpirationTime(now + 60)
      .sign(attacker.privateKey);
    const expired = await vigil.token('alice', ['analyst'], -120);
    const [h, p] = (await vigil.token('alice', ['analyst'])).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
    const adminClaims = Buffer.from(JSON.stringify({ iss: 'vigil-dev', aud: 'vigil', sub: 'mallory', exp: now + 60, iat: now, roles: ['admin'] })).toString('base64url');
    const spliced = `${h}.${adminClaims}.${(await vigil.token()).split('.')[2]}`;
    const cases: [string, string, number, string][] = [
      ['forged with an unknown key', forged, 401, 'TOKEN_UNKNOWN_KEY'],
      ['expired', expired, 401, 'TOKEN_EXPIRED'],
      ['alg none', none, 401, 'TOKEN_ALG_NOT_ALLOWED'],
      ['admin claims spliced onto a real signature', spliced, 401, 'TOKEN_SIGNATURE_INVALID'],
      ['oversized', `${h}.${'A'.repeat(9000)}.x`, 401, 'TOKEN_TOO_LARGE'],
    ];
    for (const [what, token, status, code] of cases) {
      const r = await attempt('/v2/models/digits/infer', { authorization: `Bearer ${token}` });
      assert.equal(r.status, status, what);
      assert.equal(r.json.code, code, what);
      assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"', what);
    }
  });

  test('ambiguous or misplaced credentials are refused, never resolved', async () => {
    const token = await vigil.token();
    const both = await attempt('/v2/models/digits/infer', { authorization: `Bearer ${token}`, 'x-api-key': svc.key });
    assert.equal(both.json.code, 'AMBIGUOUS_CREDENTIALS');
    const basic = await attempt('/v2/models/digits/infer', { authorization: 'Basic YWxpY2U6c2VjcmV0' });
    assert.equal(basic.json.code, 'MALFORMED_CREDENTIALS');
    const inQuery = await attempt(`/v2/models/digits/infer?access_token=${token}`, {});
    assert.equal(inQuery.json.code, 'CREDENTIALS_IN_QUERY');
    // Two Authorization headers: Node keeps one; vigil counts the raw headers.
    const { request } = await import('node:http');
    const twice = await new Promise<{ status: number; code: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: vigil.port, method: 'GET', path: '/v2/models/digits', headers: ['host', 'vigil', 'authorization', `Bearer ${token}`, 'authorization', 'Bearer other'] as unknown as Record<string, string> }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, code: JSON.parse(text).code }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(twice, { status: 400, code: 'AMBIGUOUS_CREDENTIALS' });
  });

  test('anonymous callers may check health and nothing else', async () => {
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/ready')).status, 200);
    const r = await attempt('/v2/models/digits/infer', {});
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'AUTHENTICATION_REQUIRED');
  });

  test('path tricks toward a model the policy denies are rejected, and a denied model looks the same whether or not it exists', async () => {
    const tricks = ['/v2/models/digits/../mnist/infer', '/v2/models/mnist%2F..%2Fdigits/infer', '/v2//models/mnist/infer', '/v2/models/./mnist/infer', '/v2/models/MNIST/infer'];
    for (const path of tricks) {
      const r = await attempt(path, analyst);
      assert.ok(['INVALID_PATH', 'FORBIDDEN'].includes(r.json.code), `${path}: ${r.json.code}`);
    }
    const denied = await attempt('/v2/models/mnist/infer', analyst);
    const missing = await attempt('/v2/models/no-such-model/infer', analyst);
    assert.equal(denied.status, 403);
    assert.equal(missing.status, 403);
    assert.equal(denied.json.code, 'FORBIDDEN');
    assert.equal(missing.json.code, 'FORBIDDEN');
    const deniedMeta = await attempt('/v2/models/mnist', analyst, undefined, 'GET');
    assert.equal(deniedMeta.json.code, 'FORBIDDEN');
    // An admin action through the admin port is refused too.
    const status = await rawRequest(vigil.adminPort, 'GET', '/status', { headers: analyst });
    assert.equal(status.status, 403);
    assert.equal(status.json.code, 'FORBIDDEN');
  });

  test('an expired API key is refused as expired', async () => {
    const r = await attempt('/v2/models/digits/infer', { 'x-api-key': old.key });
    assert.equal(r.json.code, 'API_KEY_EXPIRED');
  });

  test('guessing API keys: each guess refused alike, then that key id is blocked from this address, even with its valid secret', async () => {
    const guesses = [`vk.svc.${'A'.repeat(43)}`, `vk.admin.${'B'.repeat(43)}`, `vk.nope.${'C'.repeat(43)}`, `vk.svc.${svc.key.split('.')[2].slice(0, -1)}C`];
    for (const key of guesses) {
      const r = await attempt('/v2/models/digits/infer', { 'x-api-key': key });
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'API_KEY_INVALID', key);
    }
    let blocked: RawResponse | undefined;
    for (let i = 0; i < 20 && !blocked; i++) {
      const r = await attempt('/v2/models/digits/infer', { 'x-api-key': `vk.svc.${String(i).repeat(43)}` });
      if (r.status === 429) blocked = r;
    }
    assert.ok(blocked, 'the source is blocked after repeated failures');
    assert.equal(blocked.json.code, 'AUTH_BLOCKED');
    assert.ok(Number(blocked.headers['retry-after']) > 1);
    const valid = await attempt('/v2/models/digits/infer', { 'x-api-key': svc.key });
    assert.equal(valid.json.code, 'AUTH_BLOCKED');
  });

  test('nothing refused reached a pool, and every request is in the audit log exactly once', async () => {
    const allowed = sent.filter((s) => s.status === 200).length;
    assert.equal(allowed, 2);
    assert.equal(await receivedBy(vigil.runtimeDir, 'digits'), allowed);
    assert.equal(await receivedBy(vigil.runtimeDir, 'mnist'), 0);
    const records: StoredAuditRecord[] = [];
    for await (const r of queryAudit(vigil.config.audit.dir, { type: 'request' })) records.push(r);
    for (const s of sent) {
      const mine = records.filter((r) => r.type === 'request' && r.client_request_id === s.id);
      assert.equal(mine.length, 1, `${s.id} appears once`);
      const rec = mine[0];
      assert.ok(rec.type === 'request');
      assert.equal(rec.status, s.status);
      assert.equal(rec.code, s.status === 200 ? null : s.code);
      // A malformed request is told apart from a security refusal.
      assert.equal(rec.decision, s.status === 200 ? 'allow' : INVALID_REQUEST_CODES.has(s.code ?? '') ? 'invalid' : 'deny');
      const text = JSON.stringify(rec);
      assert.ok(!text.includes(svc.key.split('.')[2]), 'no API key secret in the audit log');
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(text), 'no token in the audit log');
    }
    const verdict = await verifyAudit(vigil.config.audit.dir);
    assert.equal(verdict.ok, true, JSON.stringify(verdict.findings));
  });
});
