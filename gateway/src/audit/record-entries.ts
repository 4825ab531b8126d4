/**
 * What `append` accepts: an audit record as the gateway fills it in, checked and snapshotted as
 * canonical entries before it is queued, so later changes to the object do not leak in and a
 * record no reader would take is refused before any write.
 */
import type { AuditRecord } from './audit-record.js';
import { MAX_LINE_BYTES } from './bounds.js';
import { canonicalEntries, type Entries } from './canonical.js';
import { CHAIN_KEYS, RECORD_TYPES } from './chain.js';

/** The record's canonical entries; throws a TypeError naming what is wrong with it. */
export function recordEntries(record: AuditRecord): Entries {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new TypeError('a record must be an object');
  const r = record as unknown as Record<string, unknown>;
  if (typeof r.type !== 'string' || !RECORD_TYPES.has(r.type)) throw new TypeError(`type must be one of ${[...RECORD_TYPES].join(', ')}, not ${JSON.stringify(r.type)}`);
  if (typeof r.time !== 'string' || Number.isNaN(Date.parse(r.time))) throw new TypeError(`time must be an ISO 8601 string, not ${JSON.stringify(r.time)}`);
  for (const k of CHAIN_KEYS) if (k in r) throw new TypeError(`"${k}" is set by the writer`);
  const entries = canonicalEntries(r);
  // Readers skip longer lines as not written by the writer; seq, prev and hash add under 256 bytes.
  let chars = 256;
  for (const e of entries) chars += e[1].length + 1;
  if (chars * 3 > MAX_LINE_BYTES) {
    let bytes = 256;
    for (const e of entries) bytes += Buffer.byteLength(e[1]) + 1;
    if (bytes > MAX_LINE_BYTES) throw new TypeError(`the record would be a line of ${bytes} bytes or more; at most ${MAX_LINE_BYTES}`);
  }
  return entries;
}
