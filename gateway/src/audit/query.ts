/**
 * Searching the audit log: streams the files in chain order (one line in memory at a time),
 * filters, and stops at the limit. Shared by `vigil audit query` and the gateway's HTTP query.
 * This reads; it does not verify (that is `vigil audit verify`).
 */
import { listLogFiles, type StoredAuditRecord } from './chain.js';
import { globMatch, isGlob } from './glob.js';
import { chainDirs, mergeByTime } from './replica-chains.js';
import { readLines } from './lines.js';

export interface AuditFilter {
  /** Exact, or a glob with `*` and `?` (`key:*`). Matches request and admin principals, and an alert's `principal` label. */
  principal?: string;
  /** Exact or glob. Matches a request's model and an alert's `model` label. */
  model?: string;
  version?: string;
  /** Records whose `time` is at or after this. */
  since?: Date;
  /** Records whose `time` is before this. */
  until?: Date;
  /** Request records only. */
  decision?: 'allow' | 'deny' | 'invalid';
  /** A request's error code (e.g. FORBIDDEN), exact or a glob (TOKEN_*). */
  code?: string;
  /** A request's rule (`grant:<id>`, `deny:*`, `limit:*`, `stage:authenticate`), exact or a glob. */
  rule?: string;
  /** A request's source address, exact or a glob (`10.0.*`). */
  source?: string;
  /** vigil's request id or the client's x-request-id. */
  requestId?: string;
  /** A request's HTTP status: exact (`403`) or a class (`4xx`). */
  status?: string;
  /** How a request authenticated: jwt, api_key, anonymous or none (refused or absent credentials). */
  authMethod?: string;
  type?: 'request' | 'admin' | 'alert';
  /** Exact or glob, on what the table shows as the action: a request's action, an admin event, `alert:<rule>`. */
  action?: string;
  /** Only records after this seq (to page through a log). */
  afterSeq?: number;
  /**
   * A cursor: per chain (its replica name, '' for a single chain), the last seq already read.
   * Exact however the chains interleave, so paging never skips or repeats a record.
   */
  after?: Readonly<Record<string, number>>;
}

export interface QueryOptions {
  /** Called for each line skipped because it is not a readable record. */
  onSkip?: (file: string, line: number, reason: string) => void;
}

/**
 * The records of the log in `dir` that pass `filter`, oldest first, at most `limit`. Streams:
 * memory does not grow with the log, and iteration can stop at any time.
 */
export async function* queryAudit(dir: string, filter: AuditFilter = {}, limit = Infinity, opts: QueryOptions = {}): AsyncGenerator<StoredAuditRecord> {
  if (limit <= 0) return;
  const chains = await chainDirs(dir);
  if (chains.length === 1) {
    yield* queryChain(chains[0].dir, filter, limit, opts, chains[0].replica ?? '');
    return;
  }
  // Several replicas' chains: each in its order, interleaved by time. A seq is one chain's.
  if (filter.afterSeq !== undefined) throw new Error(`after_seq counts within one chain; ${dir} holds ${chains.length} (give one replica's directory)`);
  let count = 0;
  for await (const rec of mergeByTime(chains.map((c) => queryChain(c.dir, filter, Infinity, opts, c.replica ?? '')))) {
    yield rec;
    if (++count >= limit) return;
  }
}

async function* queryChain(dir: string, filter: AuditFilter, limit: number, opts: QueryOptions, replica: string): AsyncGenerator<StoredAuditRecord> {
  // A cursor's position in this chain lets whole files before it go unread (--follow polls cheaply).
  const after = filter.after !== undefined && Object.hasOwn(filter.after, replica) ? filter.after[replica] : undefined;
  const match = compileFilter(filter);
  const needles = [filter.principal, filter.model, filter.code, filter.source].filter((v): v is string => typeof v === 'string' && !isGlob(v)).map((v) => JSON.stringify(v));
  const files = await listLogFiles(dir);
  let count = 0;
  for (let i = 0; i < files.length; i++) {
    const next = files[i + 1];
    // A file's records were all written before the next file was created, and arrived earlier.
    if (next && filter.since && next.created.getTime() < filter.since.getTime()) continue;
    if (next && filter.afterSeq !== undefined && next.firstSeq - 1 <= filter.afterSeq) continue;
    if (next && after !== undefined && next.firstSeq - 1 <= after) continue;
    // missingOk: retention may remove the oldest files while a query reads.
    for await (const { line, n, problem } of readLines(files[i].path, { missingOk: true })) {
      if (line === null) {
        opts.onSkip?.(files[i].name, n, problem);
        continue;
      }
      if (needles.length && !needles.every((s) => line.includes(s))) continue;
      let rec: StoredAuditRecord;
      try {
        rec = JSON.parse(line) as StoredAuditRecord;
      } catch {
        opts.onSkip?.(files[i].name, n, 'not JSON');
        continue;
      }
      if (typeof rec !== 'object' || rec === null || typeof rec.time !== 'string' || typeof rec.type !== 'string') {
        opts.onSkip?.(files[i].name, n, 'not an audit record');
        continue;
      }
      if (!match(rec)) continue;
      yield rec;
      if (++count >= limit) return;
    }
  }
}

/** What a record did, as one word for the table and the `action` filter. */
export function actionOf(rec: StoredAuditRecord): string | null {
  switch (rec.type) {
    case 'request':
      return rec.action;
    case 'admin':
      return rec.event;
    case 'alert':
      return `alert:${rec.rule}`;
    default:
      return null;
  }
}

export function principalOf(rec: StoredAuditRecord): string | null {
  if (rec.type === 'alert') return rec.labels?.principal ?? null;
  return typeof rec.principal === 'string' ? rec.principal : null;
}

export function modelOf(rec: StoredAuditRecord): { model: string | null; version: string | null } {
  if (rec.type === 'request') return { model: rec.model, version: rec.version };
  if (rec.type === 'alert') return { model: rec.labels?.model ?? null, version: rec.labels?.version ?? null };
  return { model: null, version: null };
}

export function compileFilter(filter: AuditFilter): (rec: StoredAuditRecord) => boolean {
  const principal = pattern(filter.principal);
  const model = pattern(filter.model);
  const action = pattern(filter.action);
  const code = pattern(filter.code);
  const rule = pattern(filter.rule);
  const source = pattern(filter.source);
  const status = filter.status === undefined ? null : statusMatcher(filter.status);
  // Filters only a request record can pass.
  const requestFields = [filter.decision, filter.code, filter.rule, filter.source, filter.requestId, filter.status, filter.authMethod].some((v) => v !== undefined);
  const since = filter.since?.getTime();
  const until = filter.until?.getTime();
  return (rec) => {
    if (filter.type && rec.type !== filter.type) return false;
    if (filter.afterSeq !== undefined && !(rec.seq > filter.afterSeq)) return false;
    if (filter.after !== undefined) {
      // Own properties only: a replica named `constructor` must not find Object's.
      const replica = rec.replica ?? '';
      if (Object.hasOwn(filter.after, replica) && !(rec.seq > filter.after[replica])) return false;
    }
    if (since !== undefined || until !== undefined) {
      const t = Date.parse(rec.time);
      if (Number.isNaN(t)) return false;
      if (since !== undefined && t < since) return false;
      if (until !== undefined && t >= until) return false;
    }
    if (principal && !principal(principalOf(rec))) return false;
    if (model || filter.version !== undefined) {
      const m = modelOf(rec);
      if (model && !model(m.model)) return false;
      if (filter.version !== undefined && m.version !== filter.version) return false;
    }
    if (action && !action(actionOf(rec))) return false;
    if (!requestFields) return true;
    if (rec.type !== 'request') return false;
    if (filter.decision && rec.decision !== filter.decision) return false;
    if (code && !code(rec.code)) return false;
    if (rule && !rule(rec.rule)) return false;
    if (source && !source(rec.source)) return false;
    if (filter.requestId !== undefined && rec.request_id !== filter.requestId && rec.client_request_id !== filter.requestId) return false;
    if (status && !status(rec.status)) return false;
    if (filter.authMethod !== undefined && rec.auth_method !== filter.authMethod) return false;
    return true;
  };
}

/** `403` exactly, or `4xx` for the class. */
export function statusMatcher(text: string): (status: number) => boolean {
  const cls = /^([1-5])xx$/i.exec(text);
  if (cls) return (s) => Math.floor(s / 100) === Number(cls[1]);
  if (/^[1-5]\d\d$/.test(text)) return (s) => s === Number(text);
  throw new Error(`${JSON.stringify(text)} is not a status: give one (403) or a class (4xx)`);
}

function pattern(p: string | undefined): ((v: string | null) => boolean) | null {
  if (p === undefined) return null;
  if (!isGlob(p)) return (v) => v === p;
  return (v) => typeof v === 'string' && globMatch(p, v); // a hand-edited line may hold anything
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time for `--since`/`--until`: an ISO 8601 time (`2025-06-01`, `2025-06-01T12:00:00Z`;
 * without an offset a time of day is local, as in JavaScript), or a duration ago: `30s`, `15m`,
 * `2h`, `7d`, `1w`.
 */
export function parseTime(text: string, now: number = Date.now()): Date {
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (rel) return new Date(now - Number(rel[1]) * UNITS[rel[2]]);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const t = Date.parse(text.trim());
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new Error(`${JSON.stringify(text)} is not a time: use ISO 8601 (2025-06-01T12:00:00Z) or a duration ago (30s, 15m, 2h, 7d, 1w)`);
}
