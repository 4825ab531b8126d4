/**
 * Which log files retention removes: a pure decision over what the writer knows of its files.
 * The writer does the I/O (checkpointer.ts): it records an `audit.retention` record and a
 * checkpoint before it deletes anything, so `vigil audit verify` can tell a documented removal
 * from a deleted file.
 */

export interface RetentionPolicy {
  /** Remove a file once its newest record is older than this (the time the next file was started). */
  maxAgeMs?: number;
  /** Remove the oldest files while the log files together hold more than this. */
  maxBytes?: number;
}

export interface RetainedFile {
  name: string;
  first_seq: number;
  /** first_seq - 1 when the file holds no record. */
  last_seq: number;
  bytes: number;
  /** When the file was created (from its name). */
  created: Date;
}

/**
 * What retention has removed so far: records `from_seq`..`through_seq`, the last of which hashed
 * to `last_hash` (the `prev` of the first record kept). Carried in checkpoints, so a writer that
 * restarts continues the same documented prefix instead of starting a new one.
 */
export interface RemovedPrefix {
  from_seq: number;
  through_seq: number;
  last_hash: string;
}

/** At most this many files go in one run, so that one record lists them all (the next checkpoint takes the rest). */
export const MAX_FILES_PER_RUN = 64;

export function retentionEnabled(policy: RetentionPolicy | undefined): policy is RetentionPolicy {
  return !!policy && (policy.maxAgeMs !== undefined || policy.maxBytes !== undefined);
}

/**
 * The files to remove now, oldest first: a prefix of `files` (in chain order, the current file
 * last) in which each file is sealed (a newer file exists: the writer never writes to it
 * again), wholly covered by the last checkpoint (`checkpointedSeq`), and either older than
 * maxAgeMs or still needed to bring the log under maxBytes. Only a prefix: the kept records go
 * on chaining from the removed ones' last hash.
 */
export function filesToRemove(files: readonly RetainedFile[], policy: RetentionPolicy, checkpointedSeq: number, now: number): { files: RetainedFile[]; reasons: string[] } {
  let total = files.reduce((sum, f) => sum + f.bytes, 0);
  const out: RetainedFile[] = [];
  const reasons = new Set<string>();
  for (let i = 0; i + 1 < files.length && out.length < MAX_FILES_PER_RUN; i++) {
    const f = files[i];
    if (f.last_seq > checkpointedSeq) break;
    const sealedAt = files[i + 1].created.getTime();
    const old = policy.maxAgeMs !== undefined && now - sealedAt > policy.maxAgeMs;
    const over = policy.maxBytes !== undefined && total > policy.maxBytes;
    if (!old && !over) break;
    if (old) reasons.add('max_age');
    if (over) reasons.add('max_bytes');
    out.push(f);
    total -= f.bytes;
  }
  return { files: out, reasons: [...reasons] };
}

/**
 * The removed prefix once `removed` (contiguous, oldest first, ending with `lastHash`) goes too:
 * it extends the one before when they meet, else it starts here (what went before these files
 * was not removed by retention, and verify will keep saying so).
 */
export function extendPrefix(before: RemovedPrefix | null, removed: readonly RetainedFile[], lastHash: string): RemovedPrefix {
  const first = removed[0].first_seq;
  const through = removed[removed.length - 1].last_seq;
  const continues = before !== null && before.from_seq <= first && first <= before.through_seq + 1;
  return { from_seq: continues ? before.from_seq : first, through_seq: through, last_hash: lastHash };
}
