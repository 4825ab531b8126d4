import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

export const DEV_ISSUER = 'vigil-dev';
export const DEV_AUDIENCE = 'vigil';
export const DEV_ALGORITHM = 'ES256';
const FILE = 'dev-signing-key.json';

export interface DevSigningKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

/**
 * The development signing key: made on first use in the state directory (0700, file 0600) and
 * shared by the gateway (which verifies) and `vigil token` (which signs). For the embedded
 * default only; production configures real issuers.
 */
export async function loadOrCreateDevKey(stateDir: string): Promise<DevSigningKey> {
  const path = join(stateDir, FILE);
  try {
    return JSON.parse(await readFile(path, 'utf8')) as DevSigningKey;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const key: DevSigningKey = {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: DEV_ALGORITHM, use: 'sig' },
    publicJwk: { ...publicJwk, kid, alg: DEV_ALGORITHM, use: 'sig' },
  };
  try {
    // 'wx': if another process created it meanwhile, use theirs rather than overwrite it.
    await writeFile(path, JSON.stringify(key), { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return JSON.parse(await readFile(path, 'utf8')) as DevSigningKey;
  }
}

/** Signs a development token (what `vigil token` prints). */
export async function mintDevToken(key: DevSigningKey, claims: { sub: string; roles: string[]; ttlSeconds: number; nowSeconds?: number }): Promise<string> {
  const now = claims.nowSeconds ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: claims.roles })
    .setProtectedHeader({ alg: DEV_ALGORITHM, kid: key.privateJwk.kid, typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + claims.ttlSeconds)
    .sign(await importJWK(key.privateJwk, DEV_ALGORITHM));
}
