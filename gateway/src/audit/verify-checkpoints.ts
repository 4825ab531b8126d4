/**
 * The checkpoints, read on their own ('checkpoint-malformed', 'checkpoint-signature',
 * 'checkpoint-chain', 'unverifiable'), then the chain held against them ('checkpoint-mismatch',
 * 'truncated', 'missing-file').
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { checkpointHash, verifyCheckpointSignature, type Checkpoint, type CheckpointFile } from './chain.js';
import { readLines } from './lines.js';
import { at, type Find, type Loc, type VerifyOptions, type VerifyReport } from './verify-report.js';

const MAX_CHECKPOINT_LINE_BYTES = 64 * 1024 * 1024;

export interface CheckpointLine {
  cp: Checkpoint;
  line: number;
}

export type Listed = Map<string, { file: CheckpointFile; line: number }>;

/** Every checkpoint line that is one and verifies, and the files they list (each by the last line to list it). */
export async function readCheckpoints(
  file: string,
  opts: VerifyOptions,
  report: VerifyReport,
  find: Find,
): Promise<{ list: CheckpointLine[]; listed: Listed }> {
  const name = basename(file);
  const out: CheckpointLine[] = [];
  const listed: Listed = new Map();
  try {
    await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { list: out, listed };
    throw err;
  }
  const algs = new Set<string>();
  const unverifiable = new Map<string, number>();
  let maxSeq = -1;
  // checkpointHash() of the line before: null before the first line, '' after one that is not a checkpoint.
  let before: string | null = null;
  // Old-style checkpoints listed every file and grew with the log (~137 KB a line after a day of
  // small files); they are read up to the bound the writer reads its own tail with.
  for await (const { line, n, problem } of readLines(file, { maxBytes: MAX_CHECKPOINT_LINE_BYTES })) {
    const loc = { file: name, line: n };
    const previous = before;
    before = '';
    const cp = parseCheckpointLine(line, problem, loc, find);
    if (!cp) continue;
    before = checkpointHash(cp);
    report.checkpoints.count++;
    algs.add(cp.sig.alg);
    const check = verifyCheckpointSignature(cp, { publicKey: opts.publicKey, hmacKey: opts.hmacKey });
    if (!check.ok && check.unverifiable) {
      unverifiable.set(check.reason, (unverifiable.get(check.reason) ?? 0) + 1);
    } else if (!check.ok) {
      find('checkpoint-signature', loc, cp.seq, `${at(loc)} (checkpoint of seq ${cp.seq}): ${check.reason}`);
      continue; // a checkpoint that does not verify proves nothing
    }
    findBrokenLink(cp, previous, loc, find);
    if (cp.seq < maxSeq) find('checkpoint-malformed', loc, cp.seq, `${at(loc)}: checkpoint of seq ${cp.seq} after one of seq ${maxSeq}: checkpoints were reordered or forged`);
    maxSeq = Math.max(maxSeq, cp.seq);
    for (const f of Array.isArray(cp.files) ? cp.files : []) {
      if (f && typeof f.name === 'string' && Number.isSafeInteger(f.first_seq) && Number.isSafeInteger(f.last_seq)) listed.set(f.name, { file: f, line: n });
    }
    out.push({ cp, line: n });
  }
  report.checkpoints.signature = algs.size === 0 ? null : algs.size === 1 ? ([...algs][0] as 'ed25519' | 'hmac-sha256' | 'none') : 'mixed';
  for (const [reason, count] of unverifiable) find('unverifiable', null, null, `${name}: ${count} checkpoint(s) ${reason}`);
  if (algs.has('none')) report.notes.push('some checkpoints are unsigned: they catch an accidental or careless truncation, not a forger who rewrites them (configure a signing key)');
  return { list: out, listed };
}


/** 'checkpoint-malformed': the line as a checkpoint, or null once it is reported (`line` null: past the read bound, for `problem`). */
function parseCheckpointLine(line: string | null, problem: string | undefined, loc: Loc, find: Find): Checkpoint | null {
  if (line === null) {
    find('checkpoint-malformed', loc, null, `${at(loc)}: ${problem}: not a checkpoint the writer wrote`);
    return null;
  }
  let cp: Checkpoint;
  try {
    cp = JSON.parse(line) as Checkpoint;
  } catch {
    find('checkpoint-malformed', loc, null, `${at(loc)}: not JSON: the checkpoint was edited or cut short`);
    return null;
  }
  if (!cp || cp.type !== 'checkpoint' || !Number.isSafeInteger(cp.seq) || cp.seq < 0 || !(cp.head_hash === null || typeof cp.head_hash === 'string') || typeof cp.time !== 'string' || typeof cp.sig !== 'object' || cp.sig === null) {
    find('checkpoint-malformed', loc, null, `${at(loc)}: not a checkpoint (type, seq, head_hash, time, sig)`);
    return null;
  }
  return cp;
}

/** 'checkpoint-chain': a checkpoint whose prev_checkpoint is not the checkpoint on the line before (`previous`: its hash; null: none, '': not a checkpoint). */
function findBrokenLink(cp: Checkpoint, previous: string | null, loc: Loc, find: Find): void {
  // Old-style checkpoints (no prev_checkpoint) list every file and are not linked.
  if ('prev_checkpoint' in cp && cp.prev_checkpoint !== previous) {
    const link = cp.prev_checkpoint;
    find(
      'checkpoint-chain',
      loc,
      cp.seq,
      previous === null
        ? `${at(loc)} (checkpoint of seq ${cp.seq}): the first line, yet it names a checkpoint before it: checkpoints were cut from the start of the file`
        : link === null
          ? `${at(loc)} (checkpoint of seq ${cp.seq}): starts a new chain of checkpoints after line ${loc.line - 1}: the file was replaced or spliced`
          : `${at(loc)} (checkpoint of seq ${cp.seq}): its prev_checkpoint is not the checkpoint at line ${loc.line - 1}: a checkpoint was removed, inserted or altered there (or its write failed)`,
    );
  }
}

/**
 * The chain held against the checkpoints: the record at each checkpointed seq must hash to what
 * the checkpoint recorded, the log must reach the latest one, and every file they list must be
 * there, unless it is in the prefix retention documented (`documented`).
 */
export function holdAgainstCheckpoints(
  checkpoints: { list: CheckpointLine[]; listed: Listed },
  chain: { observed: ReadonlyMap<number, { hash: string; loc: Loc }>; head: { seq: number; loc: Loc } | null; present: ReadonlySet<string>; documented: { from: number; through: number } | null },
  report: VerifyReport,
  find: Find,
): void {
  const { list: cps, listed } = checkpoints;
  const { observed, head: last, present, documented } = chain;
  const cpName = basename(report.checkpoints.file);
  for (const { cp, line } of cps) {
    const cploc = { file: cpName, line };
    if (cp.seq === 0 || cp.seq > report.last_seq) continue;
    const seen = observed.get(cp.seq);
    if (seen && seen.hash !== cp.head_hash) {
      find('checkpoint-mismatch', seen.loc, cp.seq, `${at(seen.loc)} seq ${cp.seq}: hashes to ${seen.hash.slice(0, 24)}…, but the checkpoint at ${at(cploc)} (${cp.time}) recorded ${String(cp.head_hash).slice(0, 24)}…: the log was rewritten up to here`);
    }
  }
  const latest = cps.reduce<CheckpointLine | null>((a, c) => (!a || c.cp.seq >= a.cp.seq ? c : a), null);
  if (latest) {
    report.checkpoints.latest = { seq: latest.cp.seq, head_hash: latest.cp.head_hash, time: latest.cp.time, line: latest.line };
    if (latest.cp.seq > report.last_seq) {
      const end = last ? `it ends at seq ${last.seq} (${at(last.loc)})` : 'it holds no record';
      find(
        'truncated',
        last?.loc ?? null,
        report.last_seq + 1,
        `the checkpoint at ${cpName}:${latest.line} (${latest.cp.time}) says the log held ${latest.cp.seq} records, but ${end}: records ${report.last_seq + 1}..${latest.cp.seq} are missing: the tail was truncated`,
      );
    }
    // The files of the log: the union of what every checkpoint listed (each lists what changed since the one before).
    let removedByRetention = 0;
    for (const [name, { file: lf, line }] of listed) {
      if (present.has(name) || lf.last_seq < lf.first_seq) continue;
      if (documented && documented.from <= lf.first_seq && lf.last_seq <= documented.through) {
        removedByRetention++;
        continue;
      }
      find('missing-file', { file: cpName, line }, lf.first_seq, `${name} (seq ${lf.first_seq}..${lf.last_seq}), listed by the checkpoint at ${cpName}:${line}, is gone, and no retention record accounts for it`);
    }
    if (removedByRetention > 0) report.notes.push(`${removedByRetention} file(s) the checkpoints list were removed by retention, as recorded`);
  } else if (report.records > 0) {
    report.notes.push('no checkpoints: a truncated tail could not be detected');
  }
}
