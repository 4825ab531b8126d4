import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { sourceKey } from '../../gateway/src/auth/auth-failure-throttle.js';
import { inferRequest } from '../helpers/heldout.js';
import { RecordingPoolLauncher } from '../helpers/recording-pool.js';
import { postJson, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

/** A token for `sub` signed by a key the issuer never published: refused TOKEN_SIGNATURE_INVALID or TOKEN_UNKNOWN_KEY. */
async function forged(sub: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['analyst'] }).setProtectedHeader({ alg: 'ES256', kid: 'not-published' }).setIssuer('vigil-dev').setAudience('vigil').setSubject(sub).setIssuedAt(now).setExpirationTime(now + 60).sign(privateKey);
}

const FAILURES = { block_after: 5, address_block_after: 15, block_s: 60, slow_after: 1000 };
const infer = (vigil: TestVigil, headers: Record<string, string>) => postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers);

describe('the auth-failure throttle behind a shared address (a load balancer, a NAT)', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ auth: { failures: FAILURES } }, { launcher: new RecordingPoolLauncher() });
  });
  after(() => vigil.stop());

  test('an attacker replaying one identity is blocked; another caller from the same address is not', async () => {
    const bad = { authorization: `Bearer ${await forged('mallory')}` };
    const codes: string[] = [];
    for (let i = 0; i < FAILURES.block_after + 2; i++) codes.push((await infer(vigil, bad)).json.code);
    assert.equal(codes.at(-1), 'AUTH_BLOCKED', codes.join(' '));
    assert.ok(codes.slice(0, FAILURES.block_after).every((c) => c !== 'AUTH_BLOCKED'), codes.join(' '));
    const alice = await infer(vigil, await vigil.auth(['analyst']));
    assert.equal(alice.status, 200, JSON.stringify(alice.json));
  });

  test('rotating claimed identities does not buy unlimited guesses: the address is blocked at address_block_after', async () => {
    let blockedAt = -1;
    for (let i = 0; i < FAILURES.address_block_after + 5 && blockedAt < 0; i++) {
      const r = await infer(vigil, { authorization: `Bearer ${await forged(`rotating-${i}`)}` });
      if (r.json.code === 'AUTH_BLOCKED') blockedAt = i;
    }
    assert.ok(blockedAt > 0, 'the address was never blocked');
    // The earlier test's mallory failures count towards the same address.
    assert.ok(blockedAt <= FAILURES.address_block_after, `blocked after ${blockedAt} rotated identities`);
    const alice = await infer(vigil, await vigil.auth(['analyst']));
    assert.equal(alice.json.code, 'AUTH_BLOCKED', 'once the address is blocked, every identity from it is');
  });
});

describe('trusted_proxies: X-Forwarded-For believed only from the load balancer', () => {
  let behindLb: TestVigil;
  let direct: TestVigil;
  before(async () => {
    behindLb = await startTestVigil({ server: { trusted_proxies: ['127.0.0.1/32', '::1'] }, auth: { failures: FAILURES } }, { launcher: new RecordingPoolLauncher() });
    direct = await startTestVigil({ auth: { failures: FAILURES } }, { launcher: new RecordingPoolLauncher() });
  });
  after(async () => {
    await behindLb.stop();
    await direct.stop();
  });

  test('behind a trusted proxy, blocking one client address leaves the others served, and the audit names the real client', async () => {
    for (let i = 0; i < FAILURES.address_block_after + 1; i++) {
      await infer(behindLb, { authorization: `Bearer ${await forged(`r-${i}`)}`, 'x-forwarded-for': '203.0.113.7' });
    }
    const attacker = await infer(behindLb, { ...(await behindLb.auth(['analyst'])), 'x-forwarded-for': '203.0.113.7' });
    assert.equal(attacker.json.code, 'AUTH_BLOCKED');
    // A client that forges a left-hand hop is still keyed by the hop the proxy appended.
    const forgedHop = await infer(behindLb, { ...(await behindLb.auth(['analyst'])), 'x-forwarded-for': '198.51.100.1, 203.0.113.7' });
    assert.equal(forgedHop.json.code, 'AUTH_BLOCKED');
    const other = await infer(behindLb, { ...(await behindLb.auth(['analyst'])), 'x-forwarded-for': '198.51.100.9', 'x-request-id': 'real-client' });
    assert.equal(other.status, 200, JSON.stringify(other.json));
    const records: StoredAuditRecord[] = [];
    for await (const r of queryAudit(behindLb.config.audit.dir, { type: 'request' })) records.push(r);
    const mine = records.find((r) => (r as { client_request_id?: string }).client_request_id === 'real-client') as { source?: string } | undefined;
    assert.ok(mine, 'the request is audited');
    assert.equal(mine.source, '198.51.100.9');
  });

  test('rotating IPv6 addresses inside one /64 does not buy fresh budgets: the /64 is blocked, another /64 is served', async () => {
    let blocked = false;
    for (let i = 0; i < FAILURES.address_block_after + 5 && !blocked; i++) {
      const r = await infer(behindLb, { authorization: `Bearer ${await forged(`v6-${i}`)}`, 'x-forwarded-for': `2001:db8:7:7::${(i + 1).toString(16)}` });
      blocked = r.json.code === 'AUTH_BLOCKED';
    }
    assert.ok(blocked, 'addresses of one /64 were counted apart');
    const sameNet = await infer(behindLb, { ...(await behindLb.auth(['analyst'])), 'x-forwarded-for': '2001:db8:7:7:ffff::1' });
    assert.equal(sameNet.json.code, 'AUTH_BLOCKED');
    const otherNet = await infer(behindLb, { ...(await behindLb.auth(['analyst'])), 'x-forwarded-for': '2001:db8:7:8::1' });
    assert.equal(otherNet.status, 200, JSON.stringify(otherNet.json));
  });

  test('failures are counted by IPv4 address, by IPv6 /64, and an IPv4-mapped address as its IPv4', () => {
    assert.equal(sourceKey('203.0.113.7'), '203.0.113.7');
    assert.equal(sourceKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(sourceKey('2001:db8:7:7::1'), sourceKey('2001:0db8:0007:0007:abcd::9'));
    assert.notEqual(sourceKey('2001:db8:7:7::1'), sourceKey('2001:db8:7:8::1'));
    assert.equal(sourceKey('unknown'), 'unknown');
  });

  test('without trusted_proxies (the default), X-Forwarded-For is ignored: a rotating header does not dodge the block', async () => {
    let blocked = false;
    for (let i = 0; i < FAILURES.address_block_after + 5 && !blocked; i++) {
      const r = await infer(direct, { authorization: `Bearer ${await forged(`x-${i}`)}`, 'x-forwarded-for': `192.0.2.${i + 1}` });
      blocked = r.json.code === 'AUTH_BLOCKED';
    }
    assert.ok(blocked, 'spoofed X-Forwarded-For values escaped the per-address block');
  });
});
