import { Agent, request } from 'undici';
import type { JSONWebKeySet } from 'jose';

/** A key set is a few KiB; anything past this is not a key set, and is not read further. */
export const JWKS_MAX_BYTES = 1024 * 1024;
/** More keys than any IdP publishes; each verification scans them all. */
const JWKS_MAX_KEYS = 100;

/** Why a key set could not be had; the message is for the log, never for the caller. */
export class JwksFetchError extends Error {
  override readonly name = 'JwksFetchError';
}

// Its own connection pool: whatever global dispatcher others install (a proxy, an interceptor that
// follows redirects) must not change how vigil fetches the keys it trusts.
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 4 });

/**
 * One GET of an issuer's JWKS: 200 only (a redirect is refused, never followed: undici's
 * `request` follows none), at most JWKS_MAX_BYTES counted as the body streams in (then the
 * connection is dropped), all within `timeoutMs`, then JSON of the JWKS shape.
 */
export async function fetchJwks(url: string, timeoutMs: number): Promise<JSONWebKeySet> {
  // A timer cleared at the end, not AbortSignal.timeout: a signal that fires after the fetch is
  // over makes undici destroy a finished body with an error nobody listens to (an uncaught exception).
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    return keySetOf(await readJson(url, timeoutMs, abort.signal));
  } finally {
    clearTimeout(timer);
  }
}

async function readJson(url: string, timeoutMs: number, signal: AbortSignal): Promise<unknown> {
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      dispatcher: agent,
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal,
    });
  } catch (err) {
    throw new JwksFetchError(signal.aborted ? `no answer within ${timeoutMs} ms` : `request failed: ${(err as { code?: string }).code ?? (err as Error).message}`);
  }
  const { statusCode, headers, body } = res;
  // Whatever happens to the body from here on, an error on it must not go unheard.
  body.on('error', () => {});
  if (statusCode !== 200) {
    body.destroy();
    const where = statusCode >= 300 && statusCode < 400 ? ` (a redirect to ${String(headers.location)}, not followed)` : '';
    throw new JwksFetchError(`HTTP ${statusCode}${where}`);
  }
  const declared = Number(headers['content-length']);
  if (declared > JWKS_MAX_BYTES) {
    body.destroy();
    throw new JwksFetchError(`the body declares ${declared} bytes; at most ${JWKS_MAX_BYTES} are read`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > JWKS_MAX_BYTES) {
        body.destroy();
        throw new JwksFetchError(`the body exceeds ${JWKS_MAX_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof JwksFetchError) throw err;
    throw new JwksFetchError(signal.aborted ? `the body did not arrive within ${timeoutMs} ms` : `the body failed: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new JwksFetchError('the body is not JSON');
  }
}

/**
 * The JWKS shape, `{"keys": [ {...}, … ]}`. A key whose members are not all flat (strings,
 * numbers, booleans, arrays of strings: every public JWK member is) is dropped, not imported, so
 * nothing deeply nested reaches jose's structuredClone or our fingerprinting.
 */
function keySetOf(json: unknown): JSONWebKeySet {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { keys?: unknown }).keys)) {
    throw new JwksFetchError('the body is not a JWKS (no "keys" array)');
  }
  const keys = (json as { keys: unknown[] }).keys;
  if (keys.length > JWKS_MAX_KEYS) throw new JwksFetchError(`the JWKS holds ${keys.length} keys; at most ${JWKS_MAX_KEYS} are accepted`);
  return { keys: keys.filter(isFlatJwk) as JSONWebKeySet['keys'] };
}

function isFlatJwk(key: unknown): boolean {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return false;
  return Object.values(key).every(
    (v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || (Array.isArray(v) && v.every((s) => typeof s === 'string')),
  );
}
