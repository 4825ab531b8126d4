import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { JwtAuthenticator } from '../../gateway/src/auth/jwt-authenticator.js';
import { configSchema } from '../../gateway/src/config/schema.js';
import { VigilError } from '../../gateway/src/errors.js';

const ISSUER = 'https://idp.test/realms/ml';
const AUDIENCE = 'vigil';
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('JWT authentication, played by an attacker', () => {
  let dir: string;
  let auth: JwtAuthenticator;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  let rsaPublicPem: string;
  const now = Math.floor(Date.now() / 1000);

  async function sign(claims: Record<string, unknown>, opts: { key?: CryptoKey; kid?: string; alg?: string; header?: Record<string, unknown> } = {}) {
    return new SignJWT({ roles: ['analyst'], ...claims })
      .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? 'k1', ...opts.header })
      .sign(opts.key ?? key);
  }
  const good = (extra: Record<string, unknown> = {}) => sign({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 600, ...extra });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-jwt-'));
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    otherKey = (await generateKeyPair('RS256')).privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    rsaPublicPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const config = configSchema.parse({
      auth: {
        issuers: [{ issuer: ISSUER, audience: AUDIENCE, jwks_file: join(dir, 'jwks.json'), algorithms: ['RS256'], roles_claim: 'realm_access.roles', max_lifetime_s: 3600 }],
        max_token_bytes: 4096,
      },
    });
    auth = await JwtAuthenticator.create(config.auth, undefined);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function codeOf(token: string | Promise<string>): Promise<string> {
    try {
      await auth.authenticate(await token);
      return 'OK';
    } catch (err) {
      assert.ok(err instanceof VigilError, String(err));
      return err.code;
    }
  }

  test('a good token becomes a principal with roles from a nested claim', async () => {
    const p = await auth.authenticate(await good({ roles: undefined, realm_access: { roles: ['analyst', 'auditor'] } }));
    assert.deepEqual(p, { id: 'user:alice', method: 'jwt', roles: ['analyst', 'auditor'], issuer: ISSUER });
  });

  const attacks: [string, () => Promise<string> | string, string][] = [
    ['forged: signed by another key', () => sign({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 600 }, { key: otherKey }), 'TOKEN_SIGNATURE_INVALID'],
    ['expired', () => good({ iat: now - 7200, exp: now - 3600 }), 'TOKEN_EXPIRED'],
    ['not yet valid', () => good({ nbf: now + 3600 }), 'TOKEN_NOT_YET_VALID'],
    ['wrong issuer', () => good({ iss: 'https://evil.test' }), 'TOKEN_ISSUER_UNKNOWN'],
    ['no issuer', () => good({ iss: undefined }), 'TOKEN_ISSUER_UNKNOWN'],
    ['wrong audience', () => good({ aud: 'another-service' }), 'TOKEN_AUDIENCE_MISMATCH'],
    ['no exp', () => good({ exp: undefined }), 'TOKEN_CLAIMS_INVALID'],
    ['no sub', () => good({ sub: undefined }), 'TOKEN_CLAIMS_INVALID'],
    ['lifetime beyond the issuer maximum', () => good({ exp: now + 7 * 86_400 }), 'TOKEN_LIFETIME_TOO_LONG'],
    ['a week-long token hiding behind an iat set in the future', () => good({ iat: now + 7 * 86_400 - 60, exp: now + 7 * 86_400 }), 'TOKEN_LIFETIME_TOO_LONG'],
    ['unknown kid', () => good().then(() => sign({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 600 }, { kid: 'nope' })), 'TOKEN_UNKNOWN_KEY'],
    ['alg none', () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: now + 600, roles: ['admin'] })}.`, 'TOKEN_ALG_NOT_ALLOWED'],
    [
      'HS256 signed with the RSA public key (algorithm confusion)',
      () => {
        const head = `${b64url({ alg: 'HS256', kid: 'k1' })}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', iat: now, exp: now + 600, roles: ['admin'] })}`;
        return `${head}.${createHmac('sha256', rsaPublicPem).update(head).digest('base64url')}`;
      },
      'TOKEN_ALG_NOT_ALLOWED',
    ],
    ['a jku header pointing at the attacker', () => sign({ iss: ISSUER, aud: AUDIENCE, sub: 'a', iat: now, exp: now + 600 }, { header: { jku: 'https://evil.test/jwks.json' } }), 'TOKEN_FORBIDDEN_HEADER'],
    ['an embedded jwk', () => sign({ iss: ISSUER, aud: AUDIENCE, sub: 'a', iat: now, exp: now + 600 }, { header: { jwk: { kty: 'RSA', n: 'x', e: 'AQAB' } } }), 'TOKEN_FORBIDDEN_HEADER'],
    ['an x5u header', () => sign({ iss: ISSUER, aud: AUDIENCE, sub: 'a', iat: now, exp: now + 600 }, { header: { x5u: 'https://evil.test/cert' } }), 'TOKEN_FORBIDDEN_HEADER'],
    ['oversized', () => good({ padding: 'x'.repeat(5000) }), 'TOKEN_TOO_LARGE'],
    ['garbage', () => 'not.a.jwt', 'TOKEN_MALFORMED'],
    ['roles claim of the wrong type', () => good({ realm_access: { roles: { admin: true } } }), 'TOKEN_CLAIMS_INVALID'],
    ['roles as one string (only scope/scp claims are space-separated)', () => good({ realm_access: { roles: 'analyst admin' } }), 'TOKEN_CLAIMS_INVALID'],
    [
      'a good token with its payload swapped for an admin one',
      async () => {
        const [h, , s] = (await good()).split('.');
        return `${h}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', iat: now, exp: now + 600, realm_access: { roles: ['admin'] } })}.${s}`;
      },
      'TOKEN_SIGNATURE_INVALID',
    ],
  ];
  for (const [what, make, code] of attacks) {
    test(`refuses ${what} with ${code}`, async () => assert.equal(await codeOf(make()), code));
  }

  test('a verified token is cached, but never used past its exp', async () => {
    // The clock is passed in, so a slow machine cannot expire the token between the two calls.
    const token = await good({ iat: now - 10, exp: now + 60 });
    const first = await auth.authenticate(token, now * 1000);
    assert.equal(await auth.authenticate(token, (now + 30) * 1000), first, 'the second call is answered from the cache');
    await assert.rejects(auth.authenticate(token, (now + 60) * 1000 + 31_000), (err: unknown) => err instanceof VigilError && err.code === 'TOKEN_EXPIRED');
  });
});

test('two issuers that would mint the same principal ids are refused at start', async () => {
  const issuer = (name: string) => ({ issuer: name, audience: 'vigil', jwks_file: '/dev/null', algorithms: ['RS256'] });
  const config = configSchema.parse({ auth: { issuers: [issuer('https://a.test')], dev_mode: true } });
  const { loadOrCreateDevKey } = await import('../../gateway/src/auth/dev-signing-key.js');
  const dir = await mkdtemp(join(tmpdir(), 'vigil-prefix-'));
  await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [] }));
  config.auth.issuers[0].jwks_file = join(dir, 'jwks.json');
  await assert.rejects(JwtAuthenticator.create(config.auth, await loadOrCreateDevKey(dir)), /both use principal_prefix 'user:'/);
  config.auth.issuers[0].principal_prefix = 'corp:';
  await JwtAuthenticator.create(config.auth, await loadOrCreateDevKey(dir));
  await rm(dir, { recursive: true, force: true });
});

describe('an issuer whose JWKS endpoint goes down', () => {
  test('keys already fetched keep working; with no keys to go on, authentication fails closed with JWKS_UNAVAILABLE', async () => {
    const { createServer } = await import('node:http');
    const known = await generateKeyPair('ES256', { extractable: true });
    const rotated = await generateKeyPair('ES256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(known.publicKey)), kid: 'known', alg: 'ES256' }] };
    let up = true;
    const server = createServer((_req, res) => {
      if (!up) return void res.socket?.destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const config = configSchema.parse({
        auth: { token_cache_size: 0, issuers: [{ issuer: 'https://idp.local', audience: 'vigil', jwks_url: `http://127.0.0.1:${port}/jwks`, algorithms: ['ES256'] }] },
      });
      const auth = await JwtAuthenticator.create(config.auth, undefined);
      const now = Math.floor(Date.now() / 1000);
      const mint = (key: CryptoKey, kid: string) =>
        new SignJWT({ roles: ['analyst'] }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('https://idp.local').setAudience('vigil').setSubject('svc').setIssuedAt(now).setExpirationTime(now + 300).sign(key);
      assert.equal((await auth.authenticate(await mint(known.privateKey, 'known'))).id, 'user:svc');
      up = false;
      assert.equal((await auth.authenticate(await mint(known.privateKey, 'known'))).id, 'user:svc', 'a cached key still verifies');
      // A kid not seen yet makes vigil refetch; with the IdP down it cannot tell a rotated key from
      // a made-up one, so that is its outage too (503), not the caller's fault (401, counted).
      await assert.rejects(auth.authenticate(await mint(rotated.privateKey, 'rotated')), (err: unknown) => err instanceof VigilError && err.code === 'JWKS_UNAVAILABLE');
      // A gateway that could never fetch the keys refuses, as unavailable (503), not as the caller's fault.
      const cold = await JwtAuthenticator.create(config.auth, undefined);
      await assert.rejects(cold.authenticate(await mint(known.privateKey, 'known')), (err: unknown) => {
        assert.ok(err instanceof VigilError);
        assert.equal(err.code, 'JWKS_UNAVAILABLE');
        assert.equal(err.status, 503);
        return true;
      });
    } finally {
      server.close();
    }
  });
});
