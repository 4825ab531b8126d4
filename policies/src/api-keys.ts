import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyEntry, CompiledPolicy } from './compile-policy.js';
import { API_KEY_ID_PATTERN } from './policy-schema.js';

export { API_KEY_ID_PATTERN };

/**
 * API keys for services: `vk.<id>.<secret>`, the secret 32 random bytes in base64url (43
 * characters). The policy stores only `sha256:<hex>` of the whole key string; the id in the key
 * says which entry to compare with, and is bound to the secret by the hash.
 *
 * A plain SHA-256 is enough here (no slow KDF): the secret is 256 random bits, not a password.
 */

const KEY_PATTERN = /^vk\.([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.([A-Za-z0-9_-]{43})$/;
/** Longer than any well-formed key: refused before any regex or hash runs. */
const MAX_KEY_LENGTH = 3 + 64 + 1 + 43;

export type ApiKeyRefusal = 'API_KEY_MALFORMED' | 'API_KEY_UNKNOWN' | 'API_KEY_EXPIRED';
export type ApiKeyLookup = { ok: true; entry: ApiKeyEntry } | { ok: false; code: ApiKeyRefusal };

/** A new key for `id`, and the hash to put in the policy. Show the key once; never store it. */
export function generateApiKey(id: string): { key: string; hash: string } {
  if (!API_KEY_ID_PATTERN.test(id)) {
    throw new Error(`API key id ${JSON.stringify(id)} must be 1-64 letters, digits, _ or - (no dots), starting with a letter or digit`);
  }
  const key = `vk.${id}.${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key) };
}

/** `sha256:<hex>` of the whole key string, as stored in the policy's `api_keys[].hash`. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** The id of a well-formed key, or null. Safe to log: the id is not secret. */
export function apiKeyId(presented: string): string | null {
  if (presented.length > MAX_KEY_LENGTH) return null;
  return KEY_PATTERN.exec(presented)?.[1] ?? null;
}

/**
 * Finds the policy entry of a presented key.
 *
 * - `API_KEY_MALFORMED`: not of the form `vk.<id>.<43 base64url characters>`.
 * - `API_KEY_UNKNOWN`: no entry has this id, or one has and the secret is wrong. Deliberately one
 *   code for both, and the same work for both (the key is hashed and compared with
 *   `timingSafeEqual` against a decoy when the id is unknown), so neither the answer nor its
 *   timing tells a caller which ids exist.
 * - `API_KEY_EXPIRED`: the key is right but past its `expires`. Only a caller holding the real
 *   key ever learns that, since expiry is checked after the secret.
 *
 * The result never holds the key or its hash.
 */
export function findApiKey(policy: CompiledPolicy, presented: string, now: number | Date): ApiKeyLookup {
  if (typeof presented !== 'string' || presented.length > MAX_KEY_LENGTH) return { ok: false, code: 'API_KEY_MALFORMED' };
  const m = KEY_PATTERN.exec(presented);
  if (!m) return { ok: false, code: 'API_KEY_MALFORMED' };
  const known = policy.apiKeys.get(m[1]);
  const expected = known ? known.hash : policy.decoyKeyHash;
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  const same = timingSafeEqual(actual, expected);
  if (!known || !same) return { ok: false, code: 'API_KEY_UNKNOWN' };
  const at = typeof now === 'number' ? now : now.getTime();
  if (known.expiresAt !== null && at >= known.expiresAt) return { ok: false, code: 'API_KEY_EXPIRED' };
  return { ok: true, entry: known.entry };
}
