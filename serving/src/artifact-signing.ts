// Signed model artifacts (issue 17, item 4): a detached JWS over what a version is (its ONNX
// file's digest and its model.yaml's), checked before the version may load. jose signs and
// verifies; only asymmetric algorithms are accepted, so the gateway holds public keys only.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeProtectedHeader, flattenedVerify, FlattenedSign, importPKCS8, importSPKI, type CryptoKey, type KeyObject } from 'jose';
import { sha256OfBytes, sha256OfFile } from './file-digest.js';

/** The detached signature beside model.onnx and model.yaml. */
export const SIGNATURE_FILE = 'model.sig';
/** What a signature's header says it is, so no other JWS can pass for one. */
const TYPE = 'vigil-model+jws';
export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'PS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** What is signed: the model and version, and the digests of its two files (no ONNX file for a remote backend). */
export interface ArtifactClaims {
  model: string;
  version: string;
  digest: string | null;
  config_digest: string;
}

/** The keys a gateway trusts to sign models, by key id, and whether a version must be signed to load. */
export interface ArtifactTrust {
  keys: ReadonlyMap<string, { alg: SigningAlgorithm; key: CryptoKey | KeyObject }>;
  required: boolean;
}

type Key = CryptoKey | KeyObject;

/** The claims of the version in `dir`, computed from the files as they are now. */
export async function artifactClaims(model: string, version: string, dir: string, modelFile: string | null, configFile: string): Promise<ArtifactClaims> {
  return {
    model,
    version,
    digest: modelFile === null ? null : await sha256OfFile(join(dir, modelFile)),
    config_digest: sha256OfBytes(await readFile(join(dir, configFile))),
  };
}

/** The bytes signed: the claims as JSON with a fixed key order, so signer and verifier agree byte for byte. */
function payloadOf(claims: ArtifactClaims): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ model: claims.model, version: claims.version, digest: claims.digest, config_digest: claims.config_digest }));
}

/** A detached compact JWS (`header..signature`) of the claims, signed with a PKCS#8 PEM private key. */
export async function signArtifact(claims: ArtifactClaims, privateKeyPem: string, alg: SigningAlgorithm, kid: string): Promise<string> {
  const key = await importPKCS8(privateKeyPem, alg);
  const jws = await new FlattenedSign(payloadOf(claims)).setProtectedHeader({ alg, kid, typ: TYPE }).sign(key);
  return `${jws.protected}..${jws.signature}`;
}

/** A public key (SPKI PEM) for `alg`. */
export function importPublicKey(pem: string, alg: SigningAlgorithm): Promise<Key> {
  return importSPKI(pem, alg);
}

/**
 * Checks a detached signature against the version's claims: its key id must be trusted, its
 * algorithm the one that key is for, its type ours, and the signature valid over the claims as
 * the files are now. Returns the signer's key id, or why not.
 */
export async function verifyArtifact(signature: string, claims: ArtifactClaims, trust: ArtifactTrust): Promise<{ ok: true; kid: string } | { ok: false; reason: string }> {
  const parts = signature.trim().split('.');
  if (parts.length !== 3 || parts[1] !== '') return { ok: false, reason: `${SIGNATURE_FILE} is not a detached compact JWS (header..signature)` };
  let header;
  try {
    header = decodeProtectedHeader({ protected: parts[0] });
  } catch {
    return { ok: false, reason: `${SIGNATURE_FILE} has an unreadable header` };
  }
  if (header.typ !== TYPE) return { ok: false, reason: `${SIGNATURE_FILE} is not a vigil model signature (typ ${JSON.stringify(header.typ ?? null)})` };
  const kid = typeof header.kid === 'string' ? header.kid : '';
  const trusted = trust.keys.get(kid);
  if (!trusted) return { ok: false, reason: `${SIGNATURE_FILE} is signed by key ${JSON.stringify(kid.slice(0, 64))}, which models.trusted_keys does not list` };
  try {
    const payload = Buffer.from(payloadOf(claims)).toString('base64url');
    await flattenedVerify({ protected: parts[0], payload, signature: parts[2] }, trusted.key, { algorithms: [trusted.alg] });
  } catch {
    return { ok: false, reason: `${SIGNATURE_FILE} does not verify with key ${JSON.stringify(kid)}: the model or its model.yaml changed since it was signed, or another key signed it` };
  }
  return { ok: true, kid };
}
