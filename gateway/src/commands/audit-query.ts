import { setTimeout as sleep } from 'node:timers/promises';
import { auditDirOf } from './audit-dir.js';
import type { StoredAuditRecord } from '../audit/chain.js';
import { toEcs } from '../audit/ecs.js';
import { printable } from '../audit/printable.js';
import { AUTH_METHODS, DECISIONS } from '../audit/query-params.js';
import { actionOf, compileFilter, modelOf, parseTime, principalOf, queryAudit, statusMatcher, type AuditFilter } from '../audit/query.js';
import { stdoutLines } from './stdout-lines.js';

export interface AuditQueryOptions {
  principal?: string;
  model?: string;
  version?: string;
  /** ISO 8601, or a duration ago: 15m, 2h, 7d. */
  since?: string;
  until?: string;
  decision?: string;
  code?: string;
  rule?: string;
  source?: string;
  requestId?: string;
  status?: string;
  authMethod?: string;
  type?: string;
  action?: string;
  /** The first N matches (oldest first). */
  limit?: string | number;
  /** The last N matches (newest last). */
  last?: string | number;
  afterSeq?: string | number;
  json?: boolean;
  /** jsonl (as --json), or ecs: Elastic Common Schema JSON lines for a SIEM. */
  format?: string;
  /** After the matches so far, keep printing new ones as they are written (until interrupted). */
  follow?: boolean;
  /** How often --follow looks for new records, ms. */
  followIntervalMs?: number;
  /** Config file whose `audit.dir` is used when no dir is given. */
  config?: string;
}

/**
 * `vigil audit query [dir] --principal … --model … --since 15m --until … --decision allow|deny
 * --code … --type request|admin|alert --limit N [--json]`: a table, or JSON lines. Exit 0, or 2
 * on a bad option or an unreadable log.
 */
export async function auditQueryCommand(dir: string | undefined, opts: AuditQueryOptions = {}): Promise<number> {
  let filter: AuditFilter;
  let limit = Infinity;
  let last = 0;
  let target: string;
  try {
    filter = filterOf(opts);
    if (opts.limit !== undefined) limit = positiveInt(opts.limit, '--limit');
    if (opts.last !== undefined) last = positiveInt(opts.last, '--last');
    if (opts.limit !== undefined && opts.last !== undefined) throw new Error('give --limit or --last, not both');
    if (opts.format !== undefined && opts.format !== 'jsonl' && opts.format !== 'ecs') throw new Error(`--format must be jsonl or ecs, not ${JSON.stringify(opts.format)}`);
    if (opts.follow && opts.limit !== undefined) throw new Error('--follow prints every new match; drop --limit');
    target = await auditDirOf(dir, opts.config);
  } catch (err) {
    process.stderr.write(`vigil audit query: ${(err as Error).message}\n`);
    return 2;
  }

  let skipped = 0;
  let shown = 0;
  // `| head` closes the pipe early: stop quietly (exit 0), never an EPIPE stack.
  const stdout = stdoutLines();
  const lines = opts.format === 'ecs' ? (rec: StoredAuditRecord) => JSON.stringify(toEcs(rec)) : opts.json || opts.format === 'jsonl' ? (rec: StoredAuditRecord) => JSON.stringify(rec) : null;
  const table = new Table(stdout.write);
  const out = (rec: StoredAuditRecord) => {
    if (lines) stdout.write(lines(rec));
    else table.add(rowOf(rec).map((v) => printable(String(v)))); // fields are caller-controlled: never raw to a terminal
    shown++;
  };
  try {
    // With --follow, one unfiltered pass notes where every chain ends (matching or not), so each
    // later poll reads only what was written since, skipping whole files before it; the matches
    // of that same pass are the ones printed first, so none is lost or printed twice.
    const read: Record<string, number> = {};
    const note = (rec: StoredAuditRecord) => (read[rec.replica ?? ''] = Math.max(read[rec.replica ?? ''] ?? 0, rec.seq));
    const matches = compileFilter(filter);
    const records = opts.follow ? queryAudit(target, {}, Infinity, { onSkip: () => skipped++ }) : queryAudit(target, filter, limit, { onSkip: () => skipped++ });
    const ring: StoredAuditRecord[] = [];
    for await (const rec of records) {
      if (opts.follow) {
        note(rec);
        if (!matches(rec)) continue;
      }
      if (last > 0) {
        ring.push(rec);
        if (ring.length > last) ring.shift();
        continue;
      }
      out(rec);
      if (stdout.closed) break;
    }
    ring.forEach(out);
    table.end();
    if (opts.follow) {
      const interrupted = new AbortController();
      process.once('SIGINT', () => interrupted.abort());
      while (!stdout.closed && !interrupted.signal.aborted) {
        await sleep(opts.followIntervalMs ?? 500, undefined, { signal: interrupted.signal }).catch(() => undefined);
        for await (const rec of queryAudit(target, { after: { ...read } }, Infinity, { onSkip: () => skipped++ })) {
          note(rec);
          // A table's widths are set; new rows print under them.
          if (matches(rec)) out(rec);
          if (stdout.closed) break;
        }
      }
    }
  } catch (err) {
    table.end();
    process.stderr.write(`vigil audit query: ${(err as Error).message}\n`);
    return 2;
  }
  table.end();
  if (stdout.closed) return 0;
  if (!opts.json) process.stderr.write(`${shown} record(s)\n`);
  if (skipped) process.stderr.write(`warning: ${skipped} unreadable line(s) skipped; run \`vigil audit verify\`\n`);
  return 0;
}

export function filterOf(opts: AuditQueryOptions, now: number = Date.now()): AuditFilter {
  const f: AuditFilter = {};
  if (opts.principal !== undefined) f.principal = opts.principal;
  if (opts.model !== undefined) f.model = opts.model;
  if (opts.version !== undefined) f.version = opts.version;
  if (opts.code !== undefined) f.code = opts.code;
  if (opts.rule !== undefined) f.rule = opts.rule;
  if (opts.source !== undefined) f.source = opts.source;
  if (opts.requestId !== undefined) f.requestId = opts.requestId;
  if (opts.status !== undefined) {
    statusMatcher(opts.status);
    f.status = opts.status;
  }
  if (opts.authMethod !== undefined) {
    if (!(AUTH_METHODS as readonly string[]).includes(opts.authMethod)) throw new Error(`--auth-method must be ${AUTH_METHODS.join(', ')}, not ${JSON.stringify(opts.authMethod)}`);
    f.authMethod = opts.authMethod;
  }
  if (opts.action !== undefined) f.action = opts.action;
  if (opts.since !== undefined) f.since = parseTime(opts.since, now);
  if (opts.until !== undefined) f.until = parseTime(opts.until, now);
  if (opts.decision !== undefined) {
    if (!(DECISIONS as readonly string[]).includes(opts.decision)) throw new Error(`--decision must be ${DECISIONS.join(', ')}, not ${JSON.stringify(opts.decision)}`);
    f.decision = opts.decision as AuditFilter['decision'];
  }
  if (opts.type !== undefined) {
    if (opts.type !== 'request' && opts.type !== 'admin' && opts.type !== 'alert') throw new Error(`--type must be request, admin or alert, not ${JSON.stringify(opts.type)}`);
    f.type = opts.type;
  }
  if (opts.afterSeq !== undefined) f.afterSeq = positiveInt(opts.afterSeq, '--after-seq', true);
  return f;
}

function positiveInt(v: string | number, name: string, zero = false): number {
  const n = typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < (zero ? 0 : 1)) throw new Error(`${name} must be a ${zero ? 'non-negative' : 'positive'} integer, not ${JSON.stringify(v)}`);
  return n;
}

const HEADER = ['TIME', 'PRINCIPAL', 'ACTION', 'MODEL/VERSION', 'DECISION', 'RULE', 'CODE', 'STATUS', 'LATENCY'];
const MAX_WIDTH = 48;

/** Streams rows: column widths come from the first 200 rows; later, longer values are cut with '…'. */
class Table {
  private pending: string[][] | null = [];
  private widths: number[] = [];

  constructor(private readonly write: (line: string) => void) {}

  add(row: string[]): void {
    if (this.pending) {
      this.pending.push(row);
      if (this.pending.length >= 200) this.flush();
    } else {
      this.print(row);
    }
  }

  end(): void {
    if (this.pending && this.pending.length > 0) this.flush();
    this.pending = null;
  }

  private flush(): void {
    const rows = this.pending ?? [];
    this.pending = null;
    this.widths = HEADER.map((h, i) => Math.min(MAX_WIDTH, Math.max(h.length, ...rows.map((r) => r[i].length))));
    this.print(HEADER);
    rows.forEach((r) => this.print(r));
  }

  private print(row: string[]): void {
    const last = row.length - 1;
    const text = row.map((v, i) => (i === last ? v : (v.length > this.widths[i] ? v.slice(0, this.widths[i] - 1) + '…' : v).padEnd(this.widths[i]))).join('  ');
    this.write(text.trimEnd());
  }
}

/** One table row: a request's decision/rule/code/status/latency; an admin event's outcome; an alert's state, rule and severity. */
function rowOf(rec: StoredAuditRecord): string[] {
  const dash = (v: unknown) => (v === null || v === undefined || v === '' ? '-' : String(v));
  const { model, version } = modelOf(rec);
  const mv = model ? (version ? `${model}/${version}` : model) : '-';
  switch (rec.type) {
    case 'request':
      return [rec.time, dash(rec.principal), dash(rec.action), mv, rec.decision, dash(rec.rule), dash(rec.code), String(rec.status), typeof rec.latency_ms === 'number' ? `${rec.latency_ms.toFixed(1)}ms` : '-'];
    case 'admin':
      return [rec.time, dash(rec.principal), rec.event, mv, rec.outcome, '-', '-', '-', '-'];
    case 'alert':
      return [rec.time, dash(principalOf(rec)), dash(actionOf(rec)), mv, rec.state, dash(rec.rule), dash(rec.severity), '-', '-'];
    default:
      return [String((rec as { time?: unknown }).time), '?', '?', '-', '-', '-', '-', '-', '-'];
  }
}
