/**
 * Where a writer opening a log continues: seq and hash from the last record of the newest file,
 * the files there are, and the last checkpoint. It refuses (AuditError 'open') rather than start
 * a chain over a log it cannot continue: a corrupt tail, a last record that does not match its
 * hash, another chain mode or HMAC key, a last checkpoint beyond the end (truncated).
 */
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { refuse } from './audit-error.js';
import {
  CHECKPOINT_FILE,
  TornTailError,
  checkpointHash,
  checkpointPayload,
  listLogFiles,
  modeOfHash,
  readLastLine,
  recomputeHash,
  safeEqual,
  type ChainMode,
  type Checkpoint,
  type CheckpointSigner,
} from './chain.js';
import type { RemovedPrefix, RetainedFile } from './retention.js';

export interface ResumedCheckpoint {
  /** The seq the last checkpoint covers (0: none). */
  seq: number;
  /** checkpointHash() of it: the next one's prev_checkpoint. */
  hash: string | null;
  /** The prefix retention removed, as the last checkpoint carries it (only when this writer's key signed it). */
  removed: RemovedPrefix | null;
}

export interface ResumedLog {
  /** The last seq written (0 for an empty log) and its hash. */
  seq: number;
  head: string | null;
  /** Every log file on disk, in chain order. */
  files: RetainedFile[];
  /** The newest file, which the next record continues; null when the next record starts a file. */
  current: { name: string; path: string; firstSeq: number } | null;
  checkpoint: ResumedCheckpoint;
}

export interface ChainKeys {
  mode: ChainMode;
  hmacKey: Buffer | undefined;
  signer: CheckpointSigner;
}

export async function resumeChain(dir: string, keys: ChainKeys): Promise<ResumedLog> {
  const files = await listLogFiles(dir);
  let last: { seq: number; hash: string } | null = null;
  // The newest file may hold no record yet (a crash right after rotation): look further back.
  for (let i = files.length - 1; i >= 0 && !last; i--) {
    const f = files[i];
    let tail: { line: string } | null;
    try {
      tail = await readLastLine(f.path);
    } catch (err) {
      if (err instanceof TornTailError) throw refuse(`${err.message}: the log's tail is corrupt (a write cut short, or an edit). Run \`vigil audit verify ${dir}\`; the writer will not start a new chain over it`);
      throw err;
    }
    if (!tail) continue;
    last = checkTail(f.path, tail.line, dir, keys);
    if (last.seq < f.firstSeq) throw refuse(`${f.path}: its last record has seq ${last.seq}, before the file's first seq ${f.firstSeq}; run \`vigil audit verify ${dir}\``);
  }
  const seq = last?.seq ?? 0;
  const head = last?.hash ?? null;
  const retained: RetainedFile[] = [];
  for (let i = 0; i < files.length; i++) {
    const next = files[i + 1];
    const { size } = await stat(files[i].path);
    retained.push({ name: files[i].name, first_seq: files[i].firstSeq, last_seq: next ? next.firstSeq - 1 : Math.max(seq, files[i].firstSeq - 1), bytes: size, created: files[i].created });
  }
  const newest = files[files.length - 1];
  if (newest && newest.firstSeq > seq + 1) {
    throw refuse(`${newest.path} starts at seq ${newest.firstSeq} but the log ends at seq ${seq}; run \`vigil audit verify ${dir}\``);
  }
  const checkpoint = await resumeCheckpoints(dir, seq, head, keys.signer);
  return { seq, head, files: retained, current: newest ? { name: newest.name, path: newest.path, firstSeq: newest.firstSeq } : null, checkpoint };
}

function checkTail(path: string, line: string, dir: string, { mode: expected, hmacKey }: ChainKeys): { seq: number; hash: string } {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw refuse(`${path}: the last line is not JSON: the log's tail is corrupt. Run \`vigil audit verify ${dir}\``);
  }
  const seq = rec?.seq;
  const hash = rec?.hash;
  if (typeof rec !== 'object' || rec === null || !Number.isSafeInteger(seq) || (seq as number) < 1 || typeof hash !== 'string') {
    throw refuse(`${path}: the last line is not a chained audit record (no seq/hash): the log's tail is corrupt. Run \`vigil audit verify ${dir}\``);
  }
  const mode = modeOfHash(hash);
  if (mode !== expected) {
    throw refuse(
      mode === 'hmac-sha256'
        ? `${path}: the log is chained with an HMAC key but none was given; configure the same key (a log keeps one mode)`
        : mode === 'sha256'
          ? `${path}: the log is chained with plain sha256 but an HMAC key was given; to start using a key, start a new audit directory`
          : `${path}: the last record's hash ${JSON.stringify(hash)} is malformed: the log's tail is corrupt`,
    );
  }
  if (!safeEqual(recomputeHash(line, rec, hmacKey).hash, hash)) {
    throw refuse(`${path}: the last record (seq ${seq}) does not match its hash: it was edited${hmacKey ? ', or the log was written with another HMAC key' : ''}. Run \`vigil audit verify ${dir}\``);
  }
  return { seq: seq as number, hash };
}

/** The last checkpoint, held against where the log ends: one beyond it means the log was truncated. */
async function resumeCheckpoints(dir: string, seq: number, head: string | null, signer: CheckpointSigner): Promise<ResumedCheckpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  const none: ResumedCheckpoint = { seq: 0, hash: null, removed: null };
  let tail: { line: string } | null;
  try {
    tail = await readLastLine(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return none;
    if (err instanceof TornTailError) throw refuse(`${err.message}: the checkpoint file's tail is corrupt; run \`vigil audit verify ${dir}\``);
    throw err;
  }
  if (!tail) return none;
  let cp: Checkpoint;
  let hash: string;
  try {
    cp = JSON.parse(tail.line) as Checkpoint;
    hash = checkpointHash(cp);
  } catch {
    throw refuse(`${path}: the last checkpoint is not JSON; run \`vigil audit verify ${dir}\``);
  }
  if (!Number.isSafeInteger(cp?.seq)) throw refuse(`${path}: the last checkpoint has no seq; run \`vigil audit verify ${dir}\``);
  if (cp.seq > seq) {
    throw refuse(`the last checkpoint (${cp.time}) says the log held ${cp.seq} records but it ends at seq ${seq}: the log was truncated. Run \`vigil audit verify ${dir}\``);
  }
  if (cp.seq === seq && cp.head_hash !== head) {
    throw refuse(`the last checkpoint (${cp.time}) says record ${cp.seq} hashed to ${cp.head_hash} but it hashes to ${head}: the log's tail was rewritten. Run \`vigil audit verify ${dir}\``);
  }
  const r = cp.removed;
  // Carried on into later retention records only when this writer's own key signed it: an
  // edited checkpoint must not make retention vouch for files someone else removed.
  const ours = cp.sig?.alg === signer.alg && cp.sig.key_id === signer.keyId && cp.sig.value === signer.sign(checkpointPayload(cp));
  const removed = r && ours && Number.isSafeInteger(r.from_seq) && Number.isSafeInteger(r.through_seq) && typeof r.last_hash === 'string' ? { from_seq: r.from_seq, through_seq: r.through_seq, last_hash: r.last_hash } : null;
  return { seq: cp.seq, hash, removed };
}
