/** What `vigil audit verify` reports, and the pieces every kind of check shares. */
import type { KeyObject } from 'node:crypto';
import type { ChainMode } from './chain.js';

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

/** Where a finding shows: a file of the log (or the checkpoints) and a 1-based line. */
export interface Loc {
  file: string;
  line: number;
}

/** Adds a finding to the report (or counts it, past maxFindings). */
export type Find = (kind: FindingKind, loc: Loc | null, seq: number | null, message: string) => void;

export const at = (l: Loc) => `${l.file}:${l.line}`;

/** An empty report for `dir`, and the `find` that fills it. */
export function newReport(dir: string, checkpointsFile: string, maxFindings: number): { report: VerifyReport; find: Find } {
  const report: VerifyReport = {
    ok: false,
    dir,
    mode: null,
    files: [],
    records: 0,
    last_seq: 0,
    head_hash: null,
    checkpoints: { file: checkpointsFile, count: 0, latest: null, signature: null },
    findings: [],
    findings_omitted: 0,
    notes: [],
  };
  const find: Find = (kind, loc, seq, message) => {
    if (report.findings.length < maxFindings) report.findings.push({ kind, file: loc?.file ?? null, line: loc?.line ?? null, seq, message });
    else report.findings_omitted++;
  };
  return { report, find };
}
