/**
 * Retention as verify sees it: the `audit.retention` records of the chain, and the prefix they
 * document, which is a note rather than 'deleted' (a first record kept that does not chain from
 * the documented last hash is a 'chain-break').
 */
import type { Gap } from './verify-chain.js';
import { at, type Find, type Loc, type VerifyReport } from './verify-report.js';

/** An `audit.retention` record of the chain: records from..through were removed, the last hashing to lastHash. */
export interface Retention {
  seq: number;
  loc: Loc;
  time: string;
  from: number;
  through: number;
  lastHash: string;
  files: number;
}

/** An `audit.retention` record's claim, when it is well-formed. */
export function retentionOf(seq: number, loc: Loc, rec: Record<string, unknown>): Retention | null {
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
export function reconcileRetention(
  first: { seq: number; prev: string | null; loc: Loc } | null,
  retentions: Retention[],
  gaps: Gap[],
  report: VerifyReport,
  find: Find,
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
