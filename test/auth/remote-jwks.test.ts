import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { errors, type FlattenedJWSInput } from 'jose';
import { FAILED_FETCH_RETRY_MS, JwksUnavailableError, RemoteJwks, UNKNOWN_KID_COOLDOWN_MS } from '../../gateway/src/auth/remote-jwks.js';
import { jwksHandler, signingKey, startFakeIdp, type FakeIdp, type SigningKey } from '../helpers/fake-idp.js';
import { waitFor } from '../helpers/wait-for.js';

const TOKEN = { payload: '', signature: '' } as FlattenedJWSInput;
const MAX_AGE_MS = 600_000;

// The clock is passed in: every age, cooldown and retry below is a number, never a wait.
describe('RemoteJwks, with its clock in the test’s hands', () => {
  let idp: FakeIdp;
  let a: SigningKey;
  let b: SigningKey;
  let now = 0;
  const clock = () => now;
  const fail = (_req: unknown, res: { writeHead(s: number): { end(): void } }) => res.writeHead(500).end();

  before(async () => {
    idp = await startFakeIdp();
    [a, b] = await Promise.all([signingKey('A'), signingKey('B')]);
  });
  after(() => idp.close());

  test('keeps serving the last good keys while the IdP fails, up to the max age; then fails closed until a fetch succeeds', async () => {
    idp.serve('/stale', jwksHandler([a.jwk]));
    const reports: (string | undefined)[] = [];
    const jwks = new RemoteJwks(idp.url('/stale'), MAX_AGE_MS, undefined, clock, (failure) => reports.push(failure));
    now = 1_000_000;
    await jwks.getKey({ alg: 'ES256', kid: 'A' }, TOKEN);
    idp.serve('/stale', fail as never);

    now += MAX_AGE_MS * 0.6; // past half the max age: a refresh starts in the background, and fails
    await jwks.getKey({ alg: 'ES256', kid: 'A' }, TOKEN);
    await waitFor('the background refresh to fail', () => jwks.failure);
    assert.match(jwks.failure!, /HTTP 500/);
    assert.equal(jwks.stillTrusted(), true, 'the last good keys are still served');

    now += MAX_AGE_MS * 0.5; // past the max age since the last success
    assert.equal(jwks.stillTrusted(), false);
    await assert.rejects(jwks.getKey({ alg: 'ES256', kid: 'A' }, TOKEN), (err: unknown) => err instanceof JwksUnavailableError && err.retryAfterS >= 1);

    idp.serve('/stale', jwksHandler([a.jwk]));
    const hits = idp.hits('/stale');
    await assert.rejects(jwks.getKey({ alg: 'ES256', kid: 'A' }, TOKEN), JwksUnavailableError, 'within the retry wait, no new fetch');
    assert.equal(idp.hits('/stale'), hits);
    now += FAILED_FETCH_RETRY_MS;
    await jwks.getKey({ alg: 'ES256', kid: 'A' }, TOKEN);
    assert.equal(jwks.stillTrusted(), true);
    // The outage is reported once however many fetches failed in it, and its end once (what operators see in the log).
    assert.equal(reports.length, 2, `reports: ${JSON.stringify(reports)}`);
    assert.match(reports[0]!, /HTTP 500/);
    assert.equal(reports[1], undefined);
  });

  test('an unknown kid refetches at most once per cooldown; a kid it brings is used, a made-up one stays unknown', async () => {
    idp.serve('/kids', jwksHandler([a.jwk]));
    const retired: (string | undefined)[][] = [];
    const jwks = new RemoteJwks(idp.url('/kids'), MAX_AGE_MS, (isRetired) => retired.push(['A', 'B', undefined].filter((k) => isRetired(k))), clock);
    now = 5_000_000;
    await jwks.getKey({ alg: 'ES256', kid: 'A' }, TOKEN);
    assert.equal(idp.hits('/kids'), 1);

    idp.serve('/kids', jwksHandler([b.jwk]));
    await jwks.getKey({ alg: 'ES256', kid: 'B' }, TOKEN);
    assert.equal(idp.hits('/kids'), 2, 'the first unknown kid refetched');
    assert.deepEqual(retired, [['A', undefined]], 'A is gone; a kid-less token could have matched anything');

    for (let i = 0; i < 5; i++) {
      await assert.rejects(jwks.getKey({ alg: 'ES256', kid: `made-up-${i}` }, TOKEN), errors.JWKSNoMatchingKey);
    }
    assert.equal(idp.hits('/kids'), 2, 'made-up kids within the cooldown fetch nothing');
    now += UNKNOWN_KID_COOLDOWN_MS;
    await assert.rejects(jwks.getKey({ alg: 'ES256', kid: 'made-up' }, TOKEN), errors.JWKSNoMatchingKey);
    assert.equal(idp.hits('/kids'), 3, 'after the cooldown, one more');
    assert.equal(retired.length, 1, 'an unchanged key set retires nothing');
  });
});
