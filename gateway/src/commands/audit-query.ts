import { loadConfig } from '../config/load-config.js';
import type { StoredAuditRecord } from '../audit/chain.js';
import { printable } from '../audit/printable.js';
import { actionOf, modelOf, parseTime, principalOf, queryAudit, type AuditFilter } from '../audit/query.js';

export interface AuditQueryOptions {
  principal?: string;
  model?: string;
  version?: string;
  /** ISO 8601, or a duration ago: 15m, 2h, 7d. */
  since?: string;
  until?: string;
  decision?: string;
  code?: string;
  type?: string;
  action?: string;
  /** The first N matches (oldest first). */
  limit?: string | number;
  /** The last N matches (newest last). */
  last?: string | number;
  afterSeq?: string | number;
  json?: boolean;
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
    target = dir ?? (await loadConfig(opts.config)).config.audit.dir;
  } catch (err) {
    process.stderr.write(`vigil audit query: ${(err as Error).message}\n`);
    return 2;
  }

  let skipped = 0;
  let shown = 0;
  const table = new Table();
  const out = (rec: StoredAuditRecord) => {
    if (opts.json) process.stdout.write(JSON.stringify(rec) + '\n');
    else table.add(rowOf(rec).map((v) => printable(String(v)))); // fields are caller-controlled: never raw to a terminal
    shown++;
  };
  try {
    const records = queryAudit(target, filter, limit, { onSkip: () => skipped++ });
    if (last > 0) {
      const ring: StoredAuditRecord[] = [];
      for await (const rec of records) {
        ring.push(rec);
        if (ring.length > last) ring.shift();
      }
      ring.forEach(out);
    } else {
      for await (const rec of records) out(rec);
    }
  } catch (err) {
    table.end();
    process.stderr.write(`vigil audit query: ${(err as Error).message}\n`);
    return 2;
  }
  table.end();
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
  if (opts.action !== undefined) f.action = opts.action;
  if (opts.since !== undefined) f.since = parseTime(opts.since, now);
  if (opts.until !== undefined) f.until = parseTime(opts.until, now);
  if (opts.decision !== undefined) {
    if (opts.decision !== 'allow' && opts.decision !== 'deny') throw new Error(`--decision must be allow or deny, not ${JSON.stringify(opts.decision)}`);
    f.decision = opts.decision;
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
    process.stdout.write(text.trimEnd() + '\n');
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
