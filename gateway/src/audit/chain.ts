/**
 * What the writer, the verifier and the query tool share: the hash of a record, the names of
 * the log files, checkpoint signatures and key files.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord } from './audit-record.js';
import { canonicalEntries, canonicalJson, joinEntries, member, type Entries } from './canonical.js';
import type { RemovedPrefix } from './retention.js';

/** A record as it is stored: the writer adds its place in the chain. */
export type StoredAuditRecord = AuditRecord & {
  /** 1, 2, 3, … across every file of the log. */
  seq: number;
  /** `hash` of the record before, or null for seq 1. */
  prev: string | null;
  /** `sha256:<hex>` or `hmac-sha256:<hex>` of the canonical record without `hash`. */
  hash: string;
};

export type ChainMode = 'sha256' | 'hmac-sha256';
export const RECORD_TYPES: ReadonlySet<string> = new Set(['request', 'admin', 'alert']);
/** Keys the writer owns; a record handed to `append` must not carry them. */
export const CHAIN_KEYS = ['hash', 'prev', 'seq'] as const;

export function chainMode(hmacKey: Buffer | undefined): ChainMode {
  return hmacKey ? 'hmac-sha256' : 'sha256';
}

/** The mode a stored hash was made with, from its prefix; null when it has neither. */
export function modeOfHash(hash: unknown): ChainMode | null {
  if (typeof hash !== 'string') return null;
  if (/^sha256:[0-9a-f]{64}$/.test(hash)) return 'sha256';
  if (/^hmac-sha256:[0-9a-f]{64}$/.test(hash)) return 'hmac-sha256';
  return null;
}

export function chainHash(canonical: string, hmacKey: Buffer | undefined): string {
  return hmacKey
    ? 'hmac-sha256:' + createHmac('sha256', hmacKey).update(canonical).digest('hex')
    : 'sha256:' + createHash('sha256').update(canonical).digest('hex');
}

/** The stored line of a record: canonical JSON with `seq`, `prev` and `hash` spliced in. */
export function sealRecord(entries: Entries, seq: number, prev: string | null, hmacKey: Buffer | undefined): { line: string; hash: string } {
  const chain: [string, string][] = [
    ['prev', prev === null ? '"prev":null' : '"prev":' + JSON.stringify(prev)],
    ['seq', '"seq":' + String(seq)],
  ];
  const hash = chainHash(joinEntries(entries, chain), hmacKey);
  chain.unshift(['hash', '"hash":"' + hash + '"']);
  return { line: joinEntries(entries, chain), hash };
}

export interface Recomputed {
  /** The hash the record's content gives (with the verifier's key, in the stored hash's mode). */
  hash: string;
  /** Whether the line is byte for byte the canonical form (no reformatting, no duplicate keys). */
  canonical: boolean;
}

/** Recomputes the hash of a parsed stored line. */
export function recomputeHash(line: string, parsed: Record<string, unknown>, hmacKey: Buffer | undefined): Recomputed {
  const { hash, ...rest } = parsed;
  // Fast path: the writer hashed exactly the stored text minus its `"hash":…` member. If the
  // text without that member still hashes to the stored hash, the content is what was hashed
  // (the member cannot sit anywhere else without changing what the line parses to).
  if (typeof hash === 'string') {
    const m = '"hash":' + JSON.stringify(hash);
    const at = line.indexOf(m);
    const end = at + m.length;
    const text = at <= 0 ? null : line[end] === ',' ? line.slice(0, at) + line.slice(end + 1) : line[at - 1] === ',' ? line.slice(0, at - 1) + line.slice(end) : null;
    if (text !== null) {
      const h = chainHash(text, hmacKey);
      if (h === hash) return { hash: h, canonical: true };
    }
  }
  const entries = canonicalEntries(rest);
  const hashed = chainHash(joinEntries(entries, []), hmacKey);
  const stored = joinEntries(entries, [['hash', member('hash', JSON.stringify(hash))]]);
  return { hash: hashed, canonical: stored === line };
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---------------------------------------------------------------------------------------------
// Files

/** `audit-<first seq, 12 digits>-<UTC creation time>.jsonl`: sorts by seq, reads as a date. */
export const LOG_FILE_RE = /^audit-(\d{12,})-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z)\.jsonl$/;
export const CHECKPOINT_FILE = 'checkpoints.jsonl';
export const LOCK_FILE = 'writer.lock';

export function logFileName(firstSeq: number, created: Date): string {
  return `audit-${String(firstSeq).padStart(12, '0')}-${created.toISOString().replace(/:/g, '-')}.jsonl`;
}

export interface LogFile {
  name: string;
  path: string;
  /** The seq its first record has (from the name). */
  firstSeq: number;
  /** When the writer created it (from the name). */
  created: Date;
}

/** The log files of `dir` in chain order. */
export async function listLogFiles(dir: string): Promise<LogFile[]> {
  const names = await readdir(dir);
  const files: LogFile[] = [];
  for (const name of names) {
    const m = LOG_FILE_RE.exec(name);
    if (!m) continue;
    const iso = m[2].replace(/T(\d{2})-(\d{2})-(\d{2})/, 'T$1:$2:$3');
    files.push({ name, path: join(dir, name), firstSeq: Number(m[1]), created: new Date(iso) });
  }
  return files.sort((a, b) => a.firstSeq - b.firstSeq || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export class TornTailError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    reason: string,
  ) {
    super(`${file}: ${reason} (at byte ${offset})`);
    this.name = 'TornTailError';
  }
}

/**
 * The last line of a file, without reading the whole file. Null for an empty file; throws
 * TornTailError when the file does not end with a newline (a write cut short, or an edit).
 */
export async function readLastLine(path: string): Promise<{ line: string; offset: number } | null> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return null;
    let chunk = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - chunk);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      if (buf[buf.length - 1] !== 0x0a) throw new TornTailError(path, size, 'the last line is incomplete (no final newline)');
      const before = buf.lastIndexOf(0x0a, buf.length - 2);
      if (before >= 0 || start === 0) {
        const from = before + 1;
        return { line: buf.subarray(from, buf.length - 1).toString('utf8'), offset: start + from };
      }
      if (chunk >= 64 * 1024 * 1024) throw new TornTailError(path, size, 'the last line is longer than 64 MiB');
      chunk *= 4;
    }
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

export interface CheckpointFile {
  name: string;
  first_seq: number;
  /** first_seq - 1 when the file holds no record yet. */
  last_seq: number;
}

export type SignatureAlg = 'ed25519' | 'hmac-sha256' | 'none';

/**
 * A signed statement of how far the log went: "at `time`, the log held records 1..`seq`, the
 * last of which hashed to `head_hash`, in these files". Written to `checkpoints.jsonl` and
 * emitted as the writer's `'checkpoint'` event, to ship somewhere the log's attacker can't reach.
 *
 * Checkpoints form a chain of their own: each names the one before (`prev_checkpoint`) and lists
 * only the files new or grown since it (the first a writer makes after it opens lists them all),
 * so a line stays a few hundred bytes however long the log lives; the files of the log are the
 * union over the chain. Checkpoints from before the chain have no `prev_checkpoint` and list
 * every file; they still verify.
 */
export interface Checkpoint {
  type: 'checkpoint';
  seq: number;
  head_hash: string | null;
  /** checkpointHash() of the checkpoint before it, null for the first; absent in old-style checkpoints. */
  prev_checkpoint?: string | null;
  files: CheckpointFile[];
  /** What retention has removed from the start of the log, when it has (see retention.ts). */
  removed?: RemovedPrefix;
  time: string;
  sig: { alg: SignatureAlg; key_id: string | null; value: string | null };
}

/**
 * What the next checkpoint's `prev_checkpoint` holds: the sha256 of a checkpoint in canonical
 * form, `sig` included (the form it is stored in; a shipped copy re-serialised in another key
 * order still links).
 */
export function checkpointHash(cp: object): string {
  return 'sha256:' + createHash('sha256').update(canonicalJson(cp)).digest('hex');
}

export interface CheckpointSigner {
  alg: SignatureAlg;
  keyId: string | null;
  sign(payload: string): string | null;
}

/** Ed25519 with `signingKey`, else HMAC-SHA256 with `hmacKey`, else unsigned. */
export function checkpointSigner(signingKey: KeyObject | undefined, hmacKey: Buffer | undefined): CheckpointSigner {
  if (signingKey) {
    if (signingKey.type !== 'private' || signingKey.asymmetricKeyType !== 'ed25519') throw new TypeError('signingKey must be an Ed25519 private key');
    const keyId = ed25519KeyId(createPublicKey(signingKey));
    return { alg: 'ed25519', keyId, sign: (payload) => sign(null, Buffer.from(payload), signingKey).toString('base64') };
  }
  if (hmacKey) return { alg: 'hmac-sha256', keyId: hmacKeyId(hmacKey), sign: (payload) => createHmac('sha256', hmacKey).update(payload).digest('base64') };
  return { alg: 'none', keyId: null, sign: () => null };
}

export function signCheckpoint(body: Omit<Checkpoint, 'sig'>, signer: CheckpointSigner): Checkpoint {
  const payload = checkpointPayload(body);
  return { ...body, sig: { alg: signer.alg, key_id: signer.keyId, value: signer.sign(payload) } };
}

/** The signed bytes: the canonical checkpoint without `sig`. */
export function checkpointPayload(cp: object): string {
  const { sig: _sig, ...body } = cp as Record<string, unknown>;
  return joinEntries(canonicalEntries(body), []);
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string; unverifiable?: boolean };

export function verifyCheckpointSignature(cp: Checkpoint, keys: { publicKey?: KeyObject; hmacKey?: Buffer }): SignatureCheck {
  const sig = cp.sig;
  const payload = checkpointPayload(cp);
  switch (sig?.alg) {
    case 'ed25519': {
      if (!keys.publicKey) return { ok: false, unverifiable: true, reason: `signed with Ed25519 key ${sig.key_id}; pass --public-key-file to verify it` };
      const id = ed25519KeyId(keys.publicKey);
      if (sig.key_id !== id) return { ok: false, reason: `signed by key ${sig.key_id}, not by the given public key ${id}` };
      let good = false;
      try {
        good = typeof sig.value === 'string' && verify(null, Buffer.from(payload), keys.publicKey, Buffer.from(sig.value, 'base64'));
      } catch {
        good = false;
      }
      return good ? { ok: true } : { ok: false, reason: 'the Ed25519 signature does not verify: the checkpoint was altered or forged' };
    }
    case 'hmac-sha256': {
      if (!keys.hmacKey) return { ok: false, unverifiable: true, reason: `signed with HMAC key ${sig.key_id}; pass --hmac-key-file to verify it` };
      const id = hmacKeyId(keys.hmacKey);
      if (sig.key_id !== id) return { ok: false, reason: `signed with HMAC key ${sig.key_id}, not with the given key ${id}` };
      const want = createHmac('sha256', keys.hmacKey).update(payload).digest('base64');
      return typeof sig.value === 'string' && safeEqual(sig.value, want) ? { ok: true } : { ok: false, reason: 'the HMAC does not verify: the checkpoint was altered or forged' };
    }
    case 'none':
      return { ok: true };
    default:
      return { ok: false, reason: `unknown signature algorithm ${JSON.stringify(sig?.alg)}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

/** First 16 hex digits of the sha256 of the SPKI DER public key. */
export function ed25519KeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Names an HMAC key without revealing it. */
export function hmacKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('vigil audit key id').digest('hex').slice(0, 16);
}

/**
 * An HMAC key file holds the key as hex text (at least 32 bytes: 64 hex digits), e.g. from
 * `openssl rand -hex 32`. Surrounding whitespace is ignored; anything else is refused.
 */
export async function readHmacKeyFile(file: string): Promise<Buffer> {
  const text = (await readFile(file, 'utf8')).trim();
  if (!/^[0-9a-fA-F]+$/.test(text) || text.length % 2 !== 0) throw new Error(`${file}: an HMAC key file must hold the key as hex digits (openssl rand -hex 32)`);
  if (text.length < 64) throw new Error(`${file}: the HMAC key is ${text.length / 2} bytes; use at least 32 (openssl rand -hex 32)`);
  return Buffer.from(text, 'hex');
}

/** An Ed25519 private key in PEM (`openssl genpkey -algorithm ed25519 -out audit-signing.pem`). */
export async function readSigningKeyFile(file: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(file));
  } catch (err) {
    throw new Error(`${file}: not a PEM private key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: the checkpoint signing key must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}

/** An Ed25519 public key in PEM (`openssl pkey -in audit-signing.pem -pubout`); a private key file works too. */
export async function readPublicKeyFile(file: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPublicKey(await readFile(file));
  } catch (err) {
    throw new Error(`${file}: not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: the checkpoint key must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}
