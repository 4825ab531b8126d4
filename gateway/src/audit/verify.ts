/**
 * Verifies an audit log: recomputes every record's hash, follows the chain across files, and
 * holds it against the checkpoints. Streams the files (memory does not grow with the log).
 * Every problem becomes a finding naming its file, line and seq.
 */
import type { KeyObject } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  CHECKPOINT_FILE,
  RECORD_TYPES,
  checkpointHash,
  listLogFiles,
  modeOfHash,
  recomputeHash,
  safeEqual,
  verifyCheckpointSignature,
  type ChainMode,
  type Checkpoint,
  type CheckpointFile,
} from './chain.js';
import { readLines } from './lines.js';

export type FindingKind =
  /** A line that is not JSON, or not a chained audit record (or longer or deeper than any record). */
  | 'malformed'
  /** A record whose content no longer matches its hash. */
  | 'edited'
  /** A record whose hash matches but whose line was rewritten (reformatted, duplicate keys). */
  | 'not-canonical'
  /** A record whose `prev` is not the hash of the record before it: something before it was altered and re-hashed, or replaced. */
  | 'chain-break'
  /** Records missing from the middle or the start of the chain. */
  | 'deleted'
  /** A record that is not part of the chain (the chain continues from another record of that seq). */
  | 'inserted'
  /** The same record twice. */
  | 'duplicate'
  /** A genuine record out of its place. */
  | 'reordered'
  /** A record hashed in another mode than the log's (plain sha256 in an HMAC log: a forger without the key). */
  | 'wrong-mode'
  /** Seq 1 with a `prev`. */
  | 'genesis'
  /** Something could not be checked for lack of a key: the log is not proven intact. */
  | 'unverifiable'
  /** Fewer records than a checkpoint says the log held. */
  | 'truncated'
  /** The record at a checkpoint's seq does not hash to the checkpoint's head_hash. */
  | 'checkpoint-mismatch'
  /** A checkpoint whose signature does not verify (or by another key). */
  | 'checkpoint-signature'
  /** A checkpoint line that is not a checkpoint, or that goes backwards. */
  | 'checkpoint-malformed'
  /** A checkpoint whose `prev_checkpoint` is not the checkpoint before it: checkpoints were removed, inserted or altered. */
  | 'checkpoint-chain'
  /** A file the checkpoints list is gone, and no retention record accounts for it. */
  | 'missing-file';

export interface Finding {
  kind: FindingKind;
  /** The file (name, relative to the log dir) and 1-based line where it shows, when it has one place. */
  file: string | null;
  line: number | null;
  seq: number | null;
  message: string;
}

export interface VerifyOptions {
  /** The HMAC key the log was written with (required to verify an HMAC-chained log). */
  hmacKey?: Buffer;
  /** The Ed25519 public key that checkpoints were signed with. */
  publicKey?: KeyObject;
  /** Checkpoints to hold the log against; default `<dir>/checkpoints.jsonl`. Use a copy shipped elsewhere when you have one. */
  checkpointsFile?: string;
  /** Stop listing findings after this many (they are still counted). Default 1000. */
  maxFindings?: number;
}

export interface VerifyReport {
  ok: boolean;
  dir: string;
  mode: ChainMode | null;
  files: { name: string; records: number; first_seq: number | null; last_seq: number | null }[];
  records: number;
  last_seq: number;
  head_hash: string | null;
  checkpoints: {
    file: string;
    count: number;
    latest: { seq: number; head_hash: string | null; time: string; line: number } | null;
    signature: 'ed25519' | 'hmac-sha256' | 'none' | 'mixed' | null;
  };
  findings: Finding[];
  /** Findings beyond maxFindings, counted but not listed. */
  findings_omitted: number;
  /** Facts worth knowing that are not failures (unsigned checkpoints, empty files…). */
  notes: string[];
}

interface Loc {
  file: string;
  line: number;
}

interface Gap {
  from: number;
  to: number;
  after: (Loc & { seq: number }) | null;
  before: Loc & { seq: number };
  /** The gap starts right after the records retention removed, through this seq. */
  afterRetention?: number;
}

/** An `audit.retention` record of the chain: records from..through were removed, the last hashing to lastHash. */
interface Retention {
  seq: number;
  loc: Loc;
  time: string;
  from: number;
  through: number;
  lastHash: string;
  files: number;
}

const RECENT = 4096;
const MAX_CHECKPOINT_LINE_BYTES = 64 * 1024 * 1024;
const at = (l: Loc) => `${l.file}:${l.line}`;

export async function verifyAudit(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const maxFindings = opts.maxFindings ?? 1000;
  const report: VerifyReport = {
    ok: false,
    dir,
    mode: null,
    files: [],
    records: 0,
    last_seq: 0,
    head_hash: null,
    checkpoints: { file: opts.checkpointsFile ?? join(dir, CHECKPOINT_FILE), count: 0, latest: null, signature: null },
    findings: [],
    findings_omitted: 0,
    notes: [],
  };
  const find = (kind: FindingKind, loc: Loc | null, seq: number | null, message: string) => {
    if (report.findings.length < maxFindings) report.findings.push({ kind, file: loc?.file ?? null, line: loc?.line ?? null, seq, message });
    else report.findings_omitted++;
  };

  if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);
  const files = await listLogFiles(dir);
  for (const name of await readdir(dir)) {
    if (name.startsWith('audit-') && !files.some((f) => f.name === name)) report.notes.push(`${name}: not named like a log file; ignored`);
  }

  // Checkpoints first: they are small, and the chain pass compares against them.
  const { list: cps, listed } = await readCheckpoints(report.checkpoints.file, opts, report, find);
  const cpSeqs = new Set(cps.map((c) => c.cp.seq));
  const observed = new Map<number, { hash: string; loc: Loc }>();

  // The chain.
  let expectedMode: ChainMode | null = opts.hmacKey ? 'hmac-sha256' : null;
  let unverifiedHmac = 0;
  let head: { seq: number; hash: string; loc: Loc } | null = null;
  const recent = new Map<number, { hash: string; loc: Loc }>();
  const gaps: Gap[] = [];
  let fork: { seq: number; hash: string; loc: Loc; other: Loc } | null = null;
  let afterMalformed = false;
  let first: { seq: number; prev: string | null; loc: Loc } | null = null;
  const vanished = new Set<string>();
  const retentions: Retention[] = [];

  const accept = (seq: number, hash: string, loc: Loc) => {
    head = { seq, hash, loc };
    recent.set(seq, { hash, loc });
    if (recent.size > RECENT) recent.delete(recent.keys().next().value as number);
    if (cpSeqs.has(seq)) observed.set(seq, { hash, loc });
    afterMalformed = false;
  };

  for (const f of files) {
    const stats = { name: f.name, records: 0, first_seq: null as number | null, last_seq: null as number | null };
    report.files.push(stats);
    // missingOk: on a live log, retention may remove a file between the listing and its reading.
    for await (const { line, n, problem } of readLines(f.path, { missingOk: true })) {
      const loc: Loc = { file: f.name, line: n };
      if (line === null) {
        // Read no further than the bound: the chain breaks here, and is followed on after it.
        find('malformed', loc, null, `${at(loc)}: ${problem}: not a record the writer wrote`);
        afterMalformed = true;
        continue;
      }
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        find('malformed', loc, null, `${at(loc)}: not JSON${line.length === 0 ? ' (an empty line)' : ''}: the line was edited or cut short`);
        afterMalformed = true;
        continue;
      }
      const seq = rec?.seq;
      if (typeof rec !== 'object' || rec === null || Array.isArray(rec) || !Number.isSafeInteger(seq) || (seq as number) < 1 || typeof rec.hash !== 'string' || !(rec.prev === null || typeof rec.prev === 'string') || !RECORD_TYPES.has(rec.type as string) || typeof rec.time !== 'string') {
        find('malformed', loc, Number.isSafeInteger(seq) ? (seq as number) : null, `${at(loc)}: not a chained audit record (seq, prev, hash, type, time)`);
        afterMalformed = true;
        continue;
      }
      const s = seq as number;
      const hash = rec.hash as string;
      const prev = rec.prev as string | null;
      report.records++;
      stats.records++;
      stats.first_seq ??= s;
      stats.last_seq = s;

      // 1. The record's own hash.
      const mode = modeOfHash(hash);
      let hashOk = false;
      expectedMode ??= mode;
      report.mode ??= expectedMode;
      if (mode === null) {
        find('edited', loc, s, `${at(loc)} seq ${s}: the hash ${JSON.stringify(hash).slice(0, 40)} is malformed: the record was edited`);
      } else if (mode !== expectedMode) {
        find(
          'wrong-mode',
          loc,
          s,
          expectedMode === 'hmac-sha256'
            ? `${at(loc)} seq ${s}: hashed with plain sha256 in an HMAC-chained log: forged by someone without the key`
            : `${at(loc)} seq ${s}: hashed with HMAC in a plain sha256 log: the log mixes modes`,
        );
      } else if (mode === 'hmac-sha256' && !opts.hmacKey) {
        unverifiedHmac++;
        hashOk = true; // taken as it is; the report says it is unverified
      } else {
        const re = recomputeHash(line, rec, opts.hmacKey);
        if (!safeEqual(re.hash, hash)) {
          find('edited', loc, s, `${at(loc)} seq ${s}: the content does not match its hash: the record was edited${mode === 'hmac-sha256' ? ' (or the log was written with another HMAC key)' : ''}`);
        } else if (!re.canonical) {
          find('not-canonical', loc, s, `${at(loc)} seq ${s}: the hash matches but the line is not in canonical form: it was rewritten (reformatted, or keys added that readers may see)`);
        } else {
          hashOk = true;
        }
      }
      if (hashOk && rec.type === 'admin' && rec.event === 'audit.retention') {
        const r = retentionOf(s, loc, rec);
        if (r) retentions.push(r);
      }

      // 2. Its place in the chain.
      const h = head as { seq: number; hash: string; loc: Loc } | null;
      if (fork && !(h && s === h.seq + 1 && prev === fork.hash)) {
        find('inserted', fork.loc, fork.seq, `${at(fork.loc)} seq ${fork.seq}: a second record with seq ${fork.seq} (the first is at ${at(fork.other)}) that the chain does not continue from: it was inserted`);
        fork = null;
      }
      if (!h) {
        first = { seq: s, prev, loc };
        if (s !== 1) gaps.push({ from: 1, to: s - 1, after: null, before: { ...loc, seq: s } });
        else if (prev !== null) find('genesis', loc, s, `${at(loc)} seq 1: the first record has a prev (${prev.slice(0, 24)}…): the records before it were removed, or it is forged`);
        accept(s, hash, loc);
      } else if (s === h.seq + 1) {
        if (prev === h.hash) {
          // the chain continues
        } else if (fork && fork.seq === h.seq && prev === fork.hash) {
          find('inserted', h.loc, h.seq, `${at(h.loc)} seq ${h.seq}: not part of the chain: the next record (${at(loc)}) continues from the other seq ${h.seq} at ${at(fork.loc)}: it was inserted`);
          if (cpSeqs.has(fork.seq)) observed.set(fork.seq, { hash: fork.hash, loc: fork.loc });
          recent.set(fork.seq, { hash: fork.hash, loc: fork.loc });
          fork = null;
        } else if (!afterMalformed) {
          find('chain-break', loc, s, `${at(loc)} seq ${s}: its prev is not the hash of seq ${h.seq} (${at(h.loc)}): seq ${h.seq} was altered and re-hashed, or replaced`);
        }
        accept(s, hash, loc);
      } else if (s > h.seq + 1) {
        if (!(afterMalformed && s === h.seq + 2)) gaps.push({ from: h.seq + 1, to: s - 1, after: { ...h.loc, seq: h.seq }, before: { ...loc, seq: s } });
        accept(s, hash, loc);
      } else {
        // s <= h.seq: behind the head
        const gi = gaps.findIndex((g) => g.from <= s && s <= g.to);
        const known = recent.get(s);
        if (gi >= 0) {
          const g = gaps[gi];
          const parts: Gap[] = [];
          if (g.from < s) parts.push({ ...g, to: s - 1 });
          if (s < g.to) parts.push({ ...g, from: s + 1 });
          gaps.splice(gi, 1, ...parts);
          const before = recent.get(s - 1);
          if (before && prev !== before.hash) find('inserted', loc, s, `${at(loc)} seq ${s}: fills a gap in the chain but its prev is not the hash of seq ${s - 1} (${at(before.loc)}): it was inserted`);
          else find('reordered', loc, s, `${at(loc)} seq ${s}: comes after seq ${h.seq} (${at(h.loc)}): records were moved out of order`);
          if (cpSeqs.has(s)) observed.set(s, { hash, loc });
          if (before) recent.set(s, { hash, loc });
        } else if (known && known.hash === hash) {
          find('duplicate', loc, s, `${at(loc)} seq ${s}: repeats the record at ${at(known.loc)}`);
        } else if (known) {
          fork = { seq: s, hash, loc, other: known.loc };
        } else {
          find('reordered', loc, s, `${at(loc)} seq ${s}: comes after seq ${h.seq} (${at(h.loc)}): out of order`);
        }
      }
    }
    if (stats.records === 0) {
      if (await exists(f.path)) report.notes.push(`${f.name}: holds no record`);
      else {
        vanished.add(f.name);
        report.notes.push(`${f.name}: removed while verify read the log (by retention, if a record says so)`);
      }
    }
  }
  if (fork) {
    const fk = fork as { seq: number; loc: Loc; other: Loc };
    find('inserted', fk.loc, fk.seq, `${at(fk.loc)} seq ${fk.seq}: a second record with seq ${fk.seq} (the first is at ${at(fk.other)}): one of them was inserted`);
  }
  // 2b. The start of the log against the retention records: a prefix they document is a note.
  const documented = reconcileRetention(first, retentions, gaps, report, find);
  for (const g of gaps) {
    const what = g.from === g.to ? `record seq ${g.from} is` : `records seq ${g.from}..${g.to} (${g.to - g.from + 1}) are`;
    const where = g.after
      ? `between ${at(g.after)} (seq ${g.after.seq}) and ${at(g.before)} (seq ${g.before.seq})`
      : g.afterRetention !== undefined
        ? `between those removed by retention (through seq ${g.afterRetention}) and ${at(g.before)} (seq ${g.before.seq}), and no retention record accounts for them`
        : `before ${at(g.before)}, where the log starts at seq ${g.before.seq}`;
    find('deleted', g.before, g.from, `${what} missing ${where}: deleted${g.after || g.afterRetention !== undefined ? '' : ' (or archived elsewhere)'}`);
  }
  if (opts.hmacKey && report.records > 0 && report.findings.length > 0 && report.findings.every((f) => f.kind === 'wrong-mode') && report.findings.length === report.records) {
    report.notes.push('every record is plain sha256: if this log was written without an HMAC key, verify it without --hmac-key-file');
  }
  if (unverifiedHmac > 0) {
    find('unverifiable', null, null, `the log is chained with HMAC-SHA256: the hashes of ${unverifiedHmac} record(s) were not checked; pass --hmac-key-file to verify them`);
  }

  const last = head as { seq: number; hash: string; loc: Loc } | null;
  report.last_seq = last?.seq ?? 0;
  report.head_hash = last?.hash ?? null;

  // 3. The chain against the checkpoints.
  const cpName = basename(report.checkpoints.file);
  for (const { cp, line } of cps) {
    const cploc = { file: cpName, line };
    if (cp.seq === 0 || cp.seq > report.last_seq) continue;
    const seen = observed.get(cp.seq);
    if (seen && seen.hash !== cp.head_hash) {
      find('checkpoint-mismatch', seen.loc, cp.seq, `${at(seen.loc)} seq ${cp.seq}: hashes to ${seen.hash.slice(0, 24)}…, but the checkpoint at ${at(cploc)} (${cp.time}) recorded ${String(cp.head_hash).slice(0, 24)}…: the log was rewritten up to here`);
    }
  }
  const latest = cps.reduce<(typeof cps)[number] | null>((a, c) => (!a || c.cp.seq >= a.cp.seq ? c : a), null);
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
    const present = new Set(files.filter((f) => !vanished.has(f.name)).map((f) => f.name));
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
  if (files.length === 0 && cps.length === 0) report.notes.push('the log is empty');

  report.ok = report.findings.length === 0 && report.findings_omitted === 0;
  return report;
}

type Listed = Map<string, { file: CheckpointFile; line: number }>;

async function readCheckpoints(
  file: string,
  opts: VerifyOptions,
  report: VerifyReport,
  find: (kind: FindingKind, loc: Loc | null, seq: number | null, message: string) => void,
): Promise<{ list: { cp: Checkpoint; line: number }[]; listed: Listed }> {
  const name = basename(file);
  const out: { cp: Checkpoint; line: number }[] = [];
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
    if (line === null) {
      find('checkpoint-malformed', loc, null, `${at(loc)}: ${problem}: not a checkpoint the writer wrote`);
      continue;
    }
    let cp: Checkpoint;
    try {
      cp = JSON.parse(line) as Checkpoint;
    } catch {
      find('checkpoint-malformed', loc, null, `${at(loc)}: not JSON: the checkpoint was edited or cut short`);
      continue;
    }
    if (!cp || cp.type !== 'checkpoint' || !Number.isSafeInteger(cp.seq) || cp.seq < 0 || !(cp.head_hash === null || typeof cp.head_hash === 'string') || typeof cp.time !== 'string' || typeof cp.sig !== 'object' || cp.sig === null) {
      find('checkpoint-malformed', loc, null, `${at(loc)}: not a checkpoint (type, seq, head_hash, time, sig)`);
      continue;
    }
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
            ? `${at(loc)} (checkpoint of seq ${cp.seq}): starts a new chain of checkpoints after line ${n - 1}: the file was replaced or spliced`
            : `${at(loc)} (checkpoint of seq ${cp.seq}): its prev_checkpoint is not the checkpoint at line ${n - 1}: a checkpoint was removed, inserted or altered there (or its write failed)`,
      );
    }
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

/** An `audit.retention` record's claim, when it is well-formed. */
function retentionOf(seq: number, loc: Loc, rec: Record<string, unknown>): Retention | null {
  const d = rec.detail as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') return null;
  const { from_seq: from, through_seq: through, last_hash: lastHash, files } = d;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(through) || typeof lastHash !== 'string' || (from as number) < 1 || (through as number) < (from as number) || (through as number) >= seq) return null;
  return { seq, loc, time: String(rec.time), from: from as number, through: through as number, lastHash, files: Array.isArray(files) ? files.length : 0 };
}

/**
 * The start of the log held against the retention records in it. When the log starts at seq s
 * and a retention record says records from..s-1 were removed, ending with the hash that seq s
 * names as its prev, that prefix is documented: a note, not a finding. What no record accounts
 * for stays a 'deleted' gap. Returns the documented range (for missing files).
 */
function reconcileRetention(
  first: { seq: number; prev: string | null; loc: Loc } | null,
  retentions: Retention[],
  gaps: Gap[],
  report: VerifyReport,
  find: (kind: FindingKind, loc: Loc | null, seq: number | null, message: string) => void,
): { from: number; through: number } | null {
  if (!first || retentions.length === 0) return null;
  const s = first.seq;
  for (const r of retentions) {
    if (r.through >= s) report.notes.push(`the audit.retention record at ${at(r.loc)} (seq ${r.seq}) removes records ${r.from}..${r.through}, but the log still starts at seq ${s}: the files were not removed yet (the writer stopped first), and stay verified`);
  }
  // The record that reaches furthest towards where the log starts now (the latest carries the whole prefix).
  const r = retentions.filter((x) => x.through < s).reduce<Retention | null>((a, x) => (!a || x.through > a.through || (x.through === a.through && x.seq > a.seq) ? x : a), null);
  const gi = gaps.findIndex((g) => g.after === null);
  if (!r || gi < 0) return null;
  const gap = gaps[gi];
  if (r.through === s - 1 && first.prev !== r.lastHash) {
    find('chain-break', first.loc, s, `${at(first.loc)} seq ${s}: its prev is not the last hash of the records removed by retention (the audit.retention record at ${at(r.loc)}): the first file kept was replaced or altered`);
  }
  const parts: Gap[] = [];
  if (gap.from < r.from) parts.push({ ...gap, to: r.from - 1 });
  if (r.through < gap.to) parts.push({ ...gap, from: r.through + 1, afterRetention: r.through });
  gaps.splice(gi, 1, ...parts);
  const n = r.through - r.from + 1;
  report.notes.push(`records seq ${r.from}..${r.through} (${n}) were removed by retention, as the audit.retention record at ${at(r.loc)} (seq ${r.seq}, ${r.time}) documents`);
  return { from: r.from, through: r.through };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
