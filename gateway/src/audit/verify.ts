/**
 * Verifies an audit log: recomputes every record's hash, follows the chain across files, and
 * holds it against the checkpoints. Streams the files (memory does not grow with the log).
 * Every problem becomes a finding naming its file, line and seq. The checks, by what they find:
 * verify-records.ts (a line, a hash), verify-chain.ts (places and gaps), verify-retention.ts
 * (documented removals), verify-checkpoints.ts; the report's shape is verify-report.ts.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKPOINT_FILE, listLogFiles } from './chain.js';
import { readLines } from './lines.js';
import { ChainWalk, findDeleted } from './verify-chain.js';
import { holdAgainstCheckpoints, readCheckpoints } from './verify-checkpoints.js';
import { HashCheck, parseRecordLine } from './verify-records.js';
import { newReport, type VerifyOptions, type VerifyReport } from './verify-report.js';
import { reconcileRetention, retentionOf, type Retention } from './verify-retention.js';

export type { Finding, FindingKind, VerifyOptions, VerifyReport } from './verify-report.js';

export async function verifyAudit(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const { report, find } = newReport(dir, opts.checkpointsFile ?? join(dir, CHECKPOINT_FILE), opts.maxFindings ?? 1000);
  if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);
  const files = await listLogFiles(dir);
  for (const name of await readdir(dir)) {
    if (name.startsWith('audit-') && !files.some((f) => f.name === name)) report.notes.push(`${name}: not named like a log file; ignored`);
  }

  // Checkpoints first: they are small, and the chain pass compares against them.
  const checkpoints = await readCheckpoints(report.checkpoints.file, opts, report, find);
  const hashes = new HashCheck(opts.hmacKey, report, find);
  const chain = new ChainWalk(new Set(checkpoints.list.map((c) => c.cp.seq)), find);
  const retentions: Retention[] = [];
  const vanished = new Set<string>();

  for (const f of files) {
    const stats = { name: f.name, records: 0, first_seq: null as number | null, last_seq: null as number | null };
    report.files.push(stats);
    // missingOk: on a live log, retention may remove a file between the listing and its reading.
    for await (const { line, n, problem } of readLines(f.path, { missingOk: true })) {
      const loc = { file: f.name, line: n };
      const record = parseRecordLine(line, problem, loc, find);
      if (!record) {
        chain.malformed();
        continue;
      }
      report.records++;
      stats.records++;
      stats.first_seq ??= record.seq;
      stats.last_seq = record.seq;
      // 1. The record's own hash; a retention record counts only when it is genuine.
      if (hashes.check(record, loc) && record.rec.type === 'admin' && record.rec.event === 'audit.retention') {
        const r = retentionOf(record.seq, loc, record.rec);
        if (r) retentions.push(r);
      }
      // 2. Its place in the chain.
      chain.place(record.seq, record.hash, record.prev, loc);
    }
    if (stats.records === 0) {
      if (await exists(f.path)) report.notes.push(`${f.name}: holds no record`);
      else {
        vanished.add(f.name);
        report.notes.push(`${f.name}: removed while verify read the log (by retention, if a record says so)`);
      }
    }
  }
  chain.end();
  // 2b. The start of the log against the retention records: a prefix they document is a note.
  const documented = reconcileRetention(chain.first, retentions, chain.gaps, report, find);
  findDeleted(chain.gaps, find);
  hashes.finish();
  report.last_seq = chain.head?.seq ?? 0;
  report.head_hash = chain.head?.hash ?? null;

  // 3. The chain against the checkpoints.
  const present = new Set(files.filter((f) => !vanished.has(f.name)).map((f) => f.name));
  holdAgainstCheckpoints(checkpoints, { observed: chain.observed, head: chain.head, present, documented }, report, find);
  if (files.length === 0 && checkpoints.list.length === 0) report.notes.push('the log is empty');

  report.ok = report.findings.length === 0 && report.findings_omitted === 0;
  return report;
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
