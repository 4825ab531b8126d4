/**
 * One record by itself: is the line a chained record at all ('malformed'), and does it match
 * its own hash ('edited', 'wrong-mode', 'not-canonical'; 'unverifiable' without the HMAC key).
 */
import { RECORD_TYPES, modeOfHash, recomputeHash, safeEqual, type ChainMode } from './chain.js';
import { at, type Find, type Loc, type VerifyReport } from './verify-report.js';

export interface ChainedRecord {
  line: string;
  rec: Record<string, unknown>;
  seq: number;
  hash: string;
  prev: string | null;
}

/** The line as a chained record, or null once it is reported 'malformed' (`line` null: past the read bounds, for `problem`). */
export function parseRecordLine(line: string | null, problem: string | undefined, loc: Loc, find: Find): ChainedRecord | null {
  if (line === null) {
    // Read no further than the bound: the chain breaks here, and is followed on after it.
    find('malformed', loc, null, `${at(loc)}: ${problem}: not a record the writer wrote`);
    return null;
  }
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    find('malformed', loc, null, `${at(loc)}: not JSON${line.length === 0 ? ' (an empty line)' : ''}: the line was edited or cut short`);
    return null;
  }
  const seq = rec?.seq;
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec) || !Number.isSafeInteger(seq) || (seq as number) < 1 || typeof rec.hash !== 'string' || !(rec.prev === null || typeof rec.prev === 'string') || !RECORD_TYPES.has(rec.type as string) || typeof rec.time !== 'string') {
    find('malformed', loc, Number.isSafeInteger(seq) ? (seq as number) : null, `${at(loc)}: not a chained audit record (seq, prev, hash, type, time)`);
    return null;
  }
  return { line, rec, seq: seq as number, hash: rec.hash as string, prev: rec.prev as string | null };
}

/** Each record's hash, in the mode of the log (the first record's, or HMAC when a key is given). */
export class HashCheck {
  private expectedMode: ChainMode | null;
  private unverifiedHmac = 0;

  constructor(
    private readonly hmacKey: Buffer | undefined,
    private readonly report: VerifyReport,
    private readonly find: Find,
  ) {
    this.expectedMode = hmacKey ? 'hmac-sha256' : null;
  }

  /** True when the record matches its hash (or is HMAC-hashed and no key was given: taken as it is, and said so by `finish`). */
  check({ line, rec, seq: s, hash }: ChainedRecord, loc: Loc): boolean {
    const find = this.find;
    const mode = modeOfHash(hash);
    this.expectedMode ??= mode;
    this.report.mode ??= this.expectedMode;
    if (mode === null) {
      find('edited', loc, s, `${at(loc)} seq ${s}: the hash ${JSON.stringify(hash).slice(0, 40)} is malformed: the record was edited`);
    } else if (mode !== this.expectedMode) {
      find(
        'wrong-mode',
        loc,
        s,
        this.expectedMode === 'hmac-sha256'
          ? `${at(loc)} seq ${s}: hashed with plain sha256 in an HMAC-chained log: forged by someone without the key`
          : `${at(loc)} seq ${s}: hashed with HMAC in a plain sha256 log: the log mixes modes`,
      );
    } else if (mode === 'hmac-sha256' && !this.hmacKey) {
      this.unverifiedHmac++;
      return true; // taken as it is; the report says it is unverified
    } else {
      const re = recomputeHash(line, rec, this.hmacKey);
      if (!safeEqual(re.hash, hash)) {
        find('edited', loc, s, `${at(loc)} seq ${s}: the content does not match its hash: the record was edited${mode === 'hmac-sha256' ? ' (or the log was written with another HMAC key)' : ''}`);
      } else if (!re.canonical) {
        find('not-canonical', loc, s, `${at(loc)} seq ${s}: the hash matches but the line is not in canonical form: it was rewritten (reformatted, or keys added that readers may see)`);
      } else {
        return true;
      }
    }
    return false;
  }

  /** After every record: a log wholly in the other mode is a note; HMAC hashes not checked are 'unverifiable'. */
  finish(): void {
    const report = this.report;
    if (this.hmacKey && report.records > 0 && report.findings.length > 0 && report.findings.every((f) => f.kind === 'wrong-mode') && report.findings.length === report.records) {
      report.notes.push('every record is plain sha256: if this log was written without an HMAC key, verify it without --hmac-key-file');
    }
    if (this.unverifiedHmac > 0) {
      this.find('unverifiable', null, null, `the log is chained with HMAC-SHA256: the hashes of ${this.unverifiedHmac} record(s) were not checked; pass --hmac-key-file to verify them`);
    }
  }
}
