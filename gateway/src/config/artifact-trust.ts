import { readFile } from 'node:fs/promises';
import { importPublicKey, type ArtifactTrust } from '../../../serving/src/artifact-signing.js';
import type { VigilConfig } from './schema.js';

/** The model-signing keys `models.trusted_keys` names, read and imported; a bad key file stops the start, naming it. */
export async function artifactTrustOf(models: Pick<VigilConfig['models'], 'trusted_keys' | 'require_signatures'>): Promise<ArtifactTrust | undefined> {
  if (models.trusted_keys.length === 0 && !models.require_signatures) return undefined;
  const keys = new Map<string, Awaited<ReturnType<typeof loadKey>>>();
  for (const k of models.trusted_keys) keys.set(k.kid, await loadKey(k));
  return { keys, required: models.require_signatures };
}

async function loadKey(k: VigilConfig['models']['trusted_keys'][number]) {
  try {
    return { alg: k.alg, key: await importPublicKey(await readFile(k.public_key_file, 'utf8'), k.alg) };
  } catch (err) {
    throw new Error(`models.trusted_keys ${k.kid}: cannot use ${k.public_key_file} as an ${k.alg} public key (SPKI PEM): ${(err as Error).message}`);
  }
}
