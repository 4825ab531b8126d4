import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { apiKeyId, findApiKey, generateApiKey, hashApiKey } from '../../policies/src/api-keys.js';
import { parsePolicyText } from '../../policies/src/compile-policy.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const live = generateApiKey('ci-bot');
const expiring = generateApiKey('old-bot');
const other = generateApiKey('other');

const policy = parsePolicyText(
  `version: 1
roles: { analyst: x }
api_keys:
  - id: ci-bot
    owner: ml-platform
    roles: [analyst]
    hash: "${live.hash}"
  - id: old-bot
    owner: ml-platform
    roles: [analyst]
    hash: "${expiring.hash}"
    expires: "2026-06-01T00:00:00Z"
`,
  'keys.yaml',
);

/** The same key with its secret changed in one character. */
function tamper(key: string): string {
  const last = key[key.length - 2] === 'A' ? 'B' : 'A';
  return `${key.slice(0, -2)}${last}${key.slice(-1)}`;
}

describe('API keys', () => {
  test('a generated key is vk.<id>.<32 random bytes, base64url>, and differs every time', () => {
    const m = /^vk\.ci-bot\.([A-Za-z0-9_-]{43})$/.exec(live.key);
    assert.ok(m, live.key.replace(/\.[^.]+$/, '.<secret>'));
    assert.equal(Buffer.from(m[1], 'base64url').length, 32);
    const keys = new Set(Array.from({ length: 50 }, () => generateApiKey('x').key));
    assert.equal(keys.size, 50);
  });

  test('the stored hash is sha256 of the whole key string', () => {
    assert.equal(live.hash, `sha256:${createHash('sha256').update(live.key).digest('hex')}`);
    assert.equal(hashApiKey(live.key), live.hash);
    assert.notEqual(hashApiKey(tamper(live.key)), live.hash);
  });

  test('ids that would make keys ambiguous are refused', () => {
    for (const id of ['', 'a.b', '-lead', 'white space', 'x'.repeat(65), 'ünï']) assert.throws(() => generateApiKey(id), id);
  });

  test('the right key is found, and the entry carries no hash or secret', () => {
    const r = findApiKey(policy, live.key, NOW);
    assert.ok(r.ok);
    assert.deepEqual({ ...r.entry }, { id: 'ci-bot', owner: 'ml-platform', roles: ['analyst'] });
    const text = JSON.stringify(r);
    assert.ok(!text.includes(live.key.split('.')[2]));
    assert.ok(!text.includes(live.hash.slice(7)));
  });

  test('a key with the right id and a wrong secret gets the same answer as an unknown id', () => {
    const wrongSecret = findApiKey(policy, tamper(live.key), NOW);
    const unknownId = findApiKey(policy, other.key, NOW);
    assert.deepEqual(wrongSecret, { ok: false, code: 'API_KEY_UNKNOWN' });
    assert.deepEqual(unknownId, wrongSecret);
  });

  test('a valid key of one id does not open another id (the id is bound by the hash)', () => {
    const secret = live.key.split('.')[2];
    assert.deepEqual(findApiKey(policy, `vk.old-bot.${secret}`, 0), { ok: false, code: 'API_KEY_UNKNOWN' });
  });

  test('an expired key is refused from its expiry on, and works until then', () => {
    const expiry = Date.parse('2026-06-01T00:00:00Z');
    assert.equal(findApiKey(policy, expiring.key, expiry - 1).ok, true);
    assert.deepEqual(findApiKey(policy, expiring.key, expiry), { ok: false, code: 'API_KEY_EXPIRED' });
    assert.deepEqual(findApiKey(policy, expiring.key, new Date(expiry + 86_400_000)), { ok: false, code: 'API_KEY_EXPIRED' });
  });

  test('expiry is revealed only to the holder of the real key', () => {
    assert.deepEqual(findApiKey(policy, tamper(expiring.key), NOW + 1), { ok: false, code: 'API_KEY_UNKNOWN' });
  });

  test('anything not shaped like a key is malformed, without echoing it', () => {
    const secret = live.key.split('.')[2];
    const malformed = [
      '',
      'secret',
      `Bearer ${live.key}`,
      ` ${live.key}`,
      `${live.key} `,
      `${live.key}\n`,
      `VK.ci-bot.${secret}`,
      `vk.ci-bot.${secret}A`,
      `vk.ci-bot.${secret.slice(1)}`,
      `vk.ci-bot.${secret.slice(0, -1)}=`,
      `vk.ci.bot.${secret}`,
      `vk..${secret}`,
      `vk.${'a'.repeat(65)}.${secret}`,
      `vk.ci-bot.${secret}.extra`,
      'vk.ci-bot.' + '+'.repeat(43),
      'x'.repeat(100_000),
    ];
    for (const k of malformed) {
      const r = findApiKey(policy, k, NOW);
      assert.deepEqual(r, { ok: false, code: 'API_KEY_MALFORMED' }, JSON.stringify(k.slice(0, 40)));
    }
    assert.deepEqual(findApiKey(policy, 123 as unknown as string, NOW), { ok: false, code: 'API_KEY_MALFORMED' });
  });

  test('apiKeyId gives the id of a well-formed key only', () => {
    assert.equal(apiKeyId(live.key), 'ci-bot');
    assert.equal(apiKeyId('vk.ci-bot.short'), null);
  });

  test('a policy with no keys refuses every key as unknown', () => {
    const none = parsePolicyText('version: 1\nroles: {}\n', 'none.yaml');
    assert.deepEqual(findApiKey(none, live.key, NOW), { ok: false, code: 'API_KEY_UNKNOWN' });
  });
});
