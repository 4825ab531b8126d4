// Hostile identity (issue 11, items 8 to 10): an identity provider whose JWKS endpoint misbehaves,
// a signing key the IdP withdraws, and a roles claim that is one string. Each case let a caller in
// or locked one out before vigil fetched its own keys (gateway/src/auth/remote-jwks.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ServerResponse } from 'node:http';
import { auditRecords } from '../helpers/audit-records.js';
import { jwksHandler, mintToken, signingKey, startFakeIdp, type FakeIdp, type SigningKey } from '../helpers/fake-idp.js';
import { RecordingPoolLauncher } from '../helpers/recording-pool.js';
import { rawRequest, startTestVigil, type RawResponse, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

const MODEL = '/v2/models/digits';
const HUGE_BYTES = 50 * 1024 * 1024;

function issuer(idp: FakeIdp, name: string, path: string, extra: Record<string, unknown> = {}) {
  return { issuer: `https://${name}.test`, audience: 'vigil', jwks_url: idp.url(path), algorithms: ['ES256'], principal_prefix: `${name}:`, ...extra };
}

function getModel(vigil: TestVigil, token: string, id?: string): Promise<RawResponse> {
  return rawRequest(vigil.port, 'GET', MODEL, { headers: { authorization: `Bearer ${token}`, ...(id ? { 'x-request-id': id } : {}) } });
}

/** Writes until `total` bytes are out or the client hangs up; resolves with what was handed to the socket. */
async function streamUntilClosed(res: ServerResponse, total: number): Promise<number> {
  let closed = false;
  res.on('close', () => (closed = true));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"keys":[{"kty":"EC","crv":"P-256","kid":"huge","x":"');
  const chunk = Buffer.alloc(64 * 1024, 'A');
  let sent = 0;
  for (let i = 0; i < total / chunk.length && !closed; i++) {
    sent += chunk.length;
    if (!res.write(chunk)) {
      await new Promise<void>((r) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          r();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  if (!closed) res.end('","y":"A"}]}');
  return sent;
}

describe('hostile: the IdP fails, and its callers are not blamed (item 8)', () => {
  let idp: FakeIdp;
  let vigil: TestVigil;
  let key: SigningKey;
  let healthy = false;
  const hugeSent: number[] = [];
  // Each way a JWKS endpoint can fail, as its own issuer (a path of the fake IdP).
  const modes = ['http-500', 'redirect', 'bad-json', 'not-a-jwks', 'huge'] as const;

  before(async () => {
    idp = await startFakeIdp();
    key = await signingKey('k1');
    const good = jwksHandler([key.jwk]);
    const broken: Record<(typeof modes)[number], Parameters<FakeIdp['serve']>[1]> = {
      'http-500': (_req, res) => void res.writeHead(500).end('upstream down'),
      // To a JWKS that would verify: following it would let whoever controls the redirect choose the keys.
      redirect: (_req, res) => void res.writeHead(302, { location: idp.url('/target') }).end(),
      'bad-json': (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [{"kty": "EC", '),
      'not-a-jwks': (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": "k1"}'),
      huge: async (_req, res) => void hugeSent.push(await streamUntilClosed(res, HUGE_BYTES)),
    };
    idp.serve('/target', good);
    for (const mode of modes) idp.serve(`/${mode}`, (req, res) => (healthy ? good(req, res) : broken[mode](req, res)));
    vigil = await startTestVigil(
      {
        auth: {
          issuers: modes.map((m) => issuer(idp, m, `/${m}`)) as never,
          // Few failures block, so counting the IdP's outage against the caller would show at once.
          failures: { block_after: 5, slow_after: 1000 },
        },
      },
      { launcher: new RecordingPoolLauncher() },
    );
  });
  after(async () => {
    await vigil?.stop();
    await idp?.close();
  });

  test('every kind of JWKS failure is 503 JWKS_UNAVAILABLE with Retry-After; the same caller gets in once the IdP recovers', async (t) => {
    const tokens = Object.fromEntries(await Promise.all(modes.map(async (m) => [m, await mintToken(key, `https://${m}.test`)] as const)));
    // Past block_after (5) failures for the same caller (address and identity) on every issuer.
    for (let round = 0; round < 7; round++) {
      for (const mode of modes) {
        const r = await getModel(vigil, tokens[mode], `outage-${mode}-${round}`);
        assert.equal(r.status, 503, `${mode}, round ${round}: ${r.text}`);
        assert.equal(r.json.code, 'JWKS_UNAVAILABLE', mode);
        assert.ok(Number.isInteger(Number(r.headers['retry-after'])) && Number(r.headers['retry-after']) >= 1, `${mode}: Retry-After ${r.headers['retry-after']}`);
      }
    }
    assert.equal(idp.hits('/target'), 0, 'the redirect was not followed');
    assert.ok(hugeSent.length > 0, 'the 50 MB key set was requested');
    for (const sent of hugeSent) assert.ok(sent < HUGE_BYTES / 4, `vigil hung up after ${sent} bytes of a ${HUGE_BYTES}-byte body`);
    t.diagnostic(`huge JWKS: the IdP got to hand ${hugeSent.map((b) => (b / 1048576).toFixed(1)).join(', ')} MiB to its socket before vigil hung up`);

    // An outage is on the record, as vigil's failure.
    const outage = (await auditRecords(vigil.config.audit.dir)).filter((r) => r.type === 'request' && r.client_request_id?.startsWith('outage-'));
    assert.equal(outage.length, 7 * modes.length);
    for (const r of outage) assert.ok(r.type === 'request' && r.code === 'JWKS_UNAVAILABLE' && r.status === 503);

    healthy = true;
    for (const mode of modes) {
      // The retry after a failed fetch waits a few seconds; poll (bounded) until it has happened.
      const r = await waitFor(`the ${mode} issuer to be fetched again`, async () => {
        const res = await getModel(vigil, tokens[mode]);
        return res.status === 503 ? undefined : res;
      }, 20_000, 200);
      assert.equal(r.status, 200, `${mode} after recovery: ${r.text}`);
      assert.equal(r.json.name, 'digits');
    }
    assert.equal(idp.hits('/target'), 0, 'the redirect was never followed');
  });
});

describe('hostile: a signing key the IdP withdraws stops working at once (item 9)', () => {
  let idp: FakeIdp;
  let vigil: TestVigil;

  before(async () => {
    idp = await startFakeIdp();
    vigil = await startTestVigil(
      { auth: { issuers: [issuer(idp, 'rotate', '/rotate'), issuer(idp, 'replace', '/replace')] as never } },
      { launcher: new RecordingPoolLauncher() },
    );
  });
  after(async () => {
    await vigil?.stop();
    await idp?.close();
  });

  test('a token verified (and cached) with key A is refused once a refetched JWKS no longer holds A', async () => {
    const [a, b] = await Promise.all([signingKey('A'), signingKey('B')]);
    idp.serve('/rotate', jwksHandler([a.jwk]));
    const tokenA = await mintToken(a, 'https://rotate.test');
    assert.equal((await getModel(vigil, tokenA)).status, 200);
    assert.equal((await getModel(vigil, tokenA)).status, 200, 'a repeat call (from the verified-token cache)');

    // The IdP withdraws A (compromised, say) and signs with B; B's first token makes vigil refetch.
    idp.serve('/rotate', jwksHandler([b.jwk]));
    const before = idp.hits('/rotate');
    assert.equal((await getModel(vigil, await mintToken(b, 'https://rotate.test', {}, 'bob'))).status, 200);
    assert.equal(idp.hits('/rotate'), before + 1, 'the new kid made vigil refetch');

    const refused = await getModel(vigil, tokenA);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.json.code, 'TOKEN_UNKNOWN_KEY');
  });

  test('a kid the IdP now uses for another key no longer verifies tokens signed with the old one', async () => {
    const [old, replacement, c] = await Promise.all([signingKey('A'), signingKey('A'), signingKey('C')]);
    idp.serve('/replace', jwksHandler([old.jwk]));
    const oldToken = await mintToken(old, 'https://replace.test');
    assert.equal((await getModel(vigil, oldToken)).status, 200);

    idp.serve('/replace', jwksHandler([replacement.jwk, c.jwk]));
    assert.equal((await getModel(vigil, await mintToken(c, 'https://replace.test', {}, 'carol'))).status, 200);

    const refused = await getModel(vigil, oldToken);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.json.code, 'TOKEN_SIGNATURE_INVALID');
    assert.equal((await getModel(vigil, await mintToken(replacement, 'https://replace.test'))).status, 200, 'the new key under the same kid works');
  });
});

describe('hostile: a roles claim that is one string (item 10)', () => {
  let idp: FakeIdp;
  let vigil: TestVigil;
  let key: SigningKey;

  before(async () => {
    idp = await startFakeIdp();
    key = await signingKey('k1');
    idp.serve('/jwks', jwksHandler([key.jwk]));
    vigil = await startTestVigil(
      {
        auth: {
          issuers: [issuer(idp, 'roles', '/jwks'), issuer(idp, 'scope', '/jwks', { roles_claim: 'scope' })] as never,
        },
      },
      { launcher: new RecordingPoolLauncher() },
    );
  });
  after(async () => {
    await vigil?.stop();
    await idp?.close();
  });

  test('"roles": "auditor admin" is refused as a malformed claim, not read as the admin role', async () => {
    const r = await getModel(vigil, await mintToken(key, 'https://roles.test', { roles: 'auditor admin' }));
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'TOKEN_CLAIMS_INVALID');
    assert.equal((await getModel(vigil, await mintToken(key, 'https://roles.test', { roles: 'analyst' }))).json.code, 'TOKEN_CLAIMS_INVALID', 'a single role as a string too');
    assert.equal((await getModel(vigil, await mintToken(key, 'https://roles.test', { roles: ['analyst'] }))).status, 200, 'an array of roles works');
  });

  test('a space-separated string is read when the claim is scope', async () => {
    assert.equal((await getModel(vigil, await mintToken(key, 'https://scope.test', { scope: 'openid analyst' }))).status, 200);
    // Space-separated means the role names: nothing else splits them.
    assert.equal((await getModel(vigil, await mintToken(key, 'https://scope.test', { scope: 'openid,analyst' }))).status, 403);
  });

  test('… or when the issuer says so (roles_claim_format: space_separated)', async () => {
    const spaced = await startTestVigil(
      { auth: { issuers: [issuer(idp, 'spaced', '/jwks', { roles_claim: 'groups', roles_claim_format: 'space_separated' })] as never } },
      { launcher: new RecordingPoolLauncher() },
    );
    try {
      assert.equal((await getModel(spaced, await mintToken(key, 'https://spaced.test', { groups: 'analyst other' }))).status, 200);
    } finally {
      await spaced.stop();
    }
  });
});
