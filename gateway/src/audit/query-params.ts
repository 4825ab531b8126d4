/**
 * The query string of the admin port's `GET /audit`, parsed strictly into a filter: every
 * parameter known, given once, a string of bounded length, of its type. Anything else is
 * `400 INVALID_QUERY`, never a guess: a repeated `?model=a&model=b` arrived as an array and
 * answered 500, and an unknown or misspelt parameter silently widened the answer.
 */
import { VigilError } from '../errors.js';
import { MAX_GLOB_LENGTH } from './glob.js';
import type { StoredAuditRecord } from './chain.js';
import { parseTime, statusMatcher, type AuditFilter } from './query.js';

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 10_000;

const STRINGS = ['principal', 'model', 'version', 'code', 'action', 'rule', 'source'] as const;
const KNOWN: ReadonlySet<string> = new Set([...STRINGS, 'request_id', 'status', 'auth_method', 'decision', 'type', 'since', 'until', 'limit', 'after_seq', 'cursor']);
export const DECISIONS = ['allow', 'deny', 'invalid'] as const;
export const AUTH_METHODS = ['jwt', 'api_key', 'anonymous', 'none'] as const;

/**
 * An INVALID_QUERY that names the parameter, so the refusal can be audited without its value;
 * null for an unknown parameter, whose very name could be a pasted secret.
 */
export class InvalidQueryError extends VigilError {
  constructor(
    readonly parameter: string | null,
    message: string,
  ) {
    super('INVALID_QUERY', message);
  }
}

export function auditQueryOf(query: Record<string, unknown>): { filter: AuditFilter; limit: number } {
  const q: Record<string, string> = {};
  for (const key of Object.keys(query)) {
    // Names are echoed in the error: keep them short and printable.
    const name = key.length <= 32 && /^[\x21-\x7e]*$/.test(key) ? key : `${JSON.stringify(key.slice(0, 32))}…`;
    if (!KNOWN.has(key)) throw new InvalidQueryError(null, `unknown query parameter ${name}; use ${[...KNOWN].join(', ')}`);
    const value = query[key];
    if (Array.isArray(value)) throw new InvalidQueryError(key, `${key} is given ${value.length} times; give each parameter once`);
    if (typeof value !== 'string') throw new InvalidQueryError(key, `${key} must be a string`);
    if (value.length > MAX_GLOB_LENGTH) throw new InvalidQueryError(key, `${key} is ${value.length} characters long; at most ${MAX_GLOB_LENGTH}`);
    q[key] = value;
  }
  const filter: AuditFilter = {};
  for (const key of STRINGS) if (q[key] !== undefined) filter[key] = q[key];
  if (q.decision !== undefined) {
    if (!(DECISIONS as readonly string[]).includes(q.decision)) throw new InvalidQueryError('decision', `decision must be ${DECISIONS.join(', ')}`);
    filter.decision = q.decision as AuditFilter['decision'];
  }
  if (q.request_id !== undefined) filter.requestId = q.request_id;
  if (q.auth_method !== undefined) {
    if (!(AUTH_METHODS as readonly string[]).includes(q.auth_method)) throw new InvalidQueryError('auth_method', `auth_method must be ${AUTH_METHODS.join(', ')}`);
    filter.authMethod = q.auth_method;
  }
  if (q.status !== undefined) {
    try {
      statusMatcher(q.status);
    } catch (err) {
      throw new InvalidQueryError('status', (err as Error).message);
    }
    filter.status = q.status;
  }
  if (q.cursor !== undefined) filter.after = cursorOf(q.cursor);
  if (q.type !== undefined) {
    if (q.type !== 'request' && q.type !== 'admin' && q.type !== 'alert') throw new InvalidQueryError('type', 'type must be request, admin or alert');
    filter.type = q.type;
  }
  if (q.since !== undefined) filter.since = timeParam('since', q.since);
  if (q.until !== undefined) filter.until = timeParam('until', q.until);
  if (q.after_seq !== undefined) filter.afterSeq = integer('after_seq', q.after_seq, 0, Number.MAX_SAFE_INTEGER);
  const limit = q.limit === undefined ? DEFAULT_QUERY_LIMIT : integer('limit', q.limit, 1, MAX_QUERY_LIMIT);
  return { filter, limit };
}

function timeParam(name: string, value: string): Date {
  try {
    return parseTime(value);
  } catch (err) {
    throw new InvalidQueryError(name, `${name}: ${(err as Error).message}`);
  }
}

function integer(name: string, value: string, min: number, max: number): number {
  const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidQueryError(name, `${name} must be an integer from ${min} to ${max}`);
  return n;
}

/**
 * The cursor of the page after `records`: per chain, the last seq read (those `previous` had for
 * chains this page did not reach). Opaque to clients: base64url of that map.
 */
export function nextCursor(records: readonly StoredAuditRecord[], previous: Readonly<Record<string, number>> = {}): string {
  const at: Record<string, number> = { ...previous };
  for (const r of records) at[r.replica ?? ''] = Math.max(at[r.replica ?? ''] ?? 0, r.seq);
  return Buffer.from(JSON.stringify(at)).toString('base64url');
}

/** A cursor back to its map, checked whole: anything else is INVALID_QUERY. */
export function cursorOf(text: string): Record<string, number> {
  let parsed: unknown;
  try {
    parsed = /^[A-Za-z0-9_-]{1,4096}$/.test(text) ? JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) : undefined;
  } catch {
    parsed = undefined;
  }
  const entries = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.entries(parsed) : null;
  if (!entries || entries.length > 256 || !entries.every(([k, v]) => k.length <= 128 && Number.isSafeInteger(v) && (v as number) >= 0)) {
    throw new InvalidQueryError('cursor', 'cursor is not one vigil gave: pass back the `next` of the previous page as it was');
  }
  return Object.fromEntries(entries) as Record<string, number>;
}
