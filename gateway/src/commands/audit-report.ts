import type { StoredAuditRecord } from '../audit/chain.js';
import type { RequestAuditRecord } from '../audit/audit-record.js';
import { printable } from '../audit/printable.js';
import { queryAudit } from '../audit/query.js';
import { auditDirOf } from './audit-dir.js';
import { filterOf } from './audit-query.js';
import { stdoutLines } from './stdout-lines.js';

export interface AuditReportOptions {
  since?: string;
  until?: string;
  /** Authentication: failures by the identity they claimed (with --failed), else outcomes by method. */
  auth?: boolean;
  failed?: boolean;
  /** Requests counted by principal, model, code, source or rule, split by decision. */
  summary?: string;
  json?: boolean;
  config?: string;
}

const SUMMARY_KEYS = ['principal', 'model', 'code', 'source', 'rule'] as const;
type SummaryKey = (typeof SUMMARY_KEYS)[number];

/**
 * `vigil audit report [dir] --auth --failed --since 1h` or `--summary principal|model|code|source|rule`:
 * summaries of the audit log, like Linux's aureport, for the questions a security team asks first
 * ("who failed to authenticate in the last hour, by claimed identity"). Streams the log; memory
 * grows with the distinct keys, not the records. Exit 0, or 2 on a bad option or unreadable log.
 */
export async function auditReportCommand(dir: string | undefined, opts: AuditReportOptions): Promise<number> {
  let target: string;
  let report: Report;
  try {
    if (Boolean(opts.auth) === (opts.summary !== undefined)) throw new Error('give --auth (with --failed for failures by claimed identity) or --summary <principal|model|code|source|rule>');
    if (opts.failed && !opts.auth) throw new Error('--failed goes with --auth');
    if (opts.summary !== undefined && !(SUMMARY_KEYS as readonly string[]).includes(opts.summary)) throw new Error(`--summary must be ${SUMMARY_KEYS.join(', ')}, not ${JSON.stringify(opts.summary)}`);
    report = opts.auth ? (opts.failed ? failedAuthReport() : authReport()) : summaryReport(opts.summary as SummaryKey);
    target = await auditDirOf(dir, opts.config);
  } catch (err) {
    process.stderr.write(`vigil audit report: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const filter = { ...filterOf({ since: opts.since, until: opts.until }), type: 'request' as const };
    for await (const rec of queryAudit(target, filter)) report.add(rec);
  } catch (err) {
    process.stderr.write(`vigil audit report: ${(err as Error).message}\n`);
    return 2;
  }
  const rows = report.rows();
  const stdout = stdoutLines();
  if (opts.json) {
    for (const row of rows) stdout.write(JSON.stringify(row));
    return 0;
  }
  const cells = rows.map((row) => report.columns.map((c) => printable(format(row[c]))));
  const widths = report.columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((r) => r[i].length))));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : (v.length > widths[i] ? `${v.slice(0, widths[i] - 1)}…` : v).padEnd(widths[i]))).join('  ').trimEnd();
  stdout.write(line(report.columns.map((c) => c.toUpperCase())));
  for (const r of cells) stdout.write(line(r));
  if (!stdout.closed) process.stderr.write(`${rows.length} row(s)\n`);
  return 0;
}

interface Report {
  columns: string[];
  add(rec: StoredAuditRecord): void;
  rows(): Record<string, unknown>[];
}

function format(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'object') return Object.entries(v as Record<string, number>).map(([k, n]) => `${k}:${n}`).join(' ');
  return String(v);
}

/** Caps the distinct values kept per row (a flood of source addresses must not grow without bound). */
const MAX_DISTINCT = 1000;

function failedAuthReport(): Report {
  const groups = new Map<string, { claimed: string; kid: string | undefined; failures: number; sources: Set<string>; codes: Record<string, number>; first: string; last: string }>();
  return {
    columns: ['claimed', 'kid', 'failures', 'sources', 'codes', 'first', 'last'],
    add(rec) {
      if (rec.type !== 'request' || rec.rule !== 'stage:authenticate' || rec.status < 400) return;
      const claimed = claimedName(rec);
      const kid = rec.claimed?.kid;
      const key = `${claimed}\u0000${kid ?? ''}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { claimed, kid, failures: 0, sources: new Set(), codes: {}, first: rec.time, last: rec.time }));
      g.failures++;
      if (g.sources.size < MAX_DISTINCT) g.sources.add(rec.source);
      const code = rec.code ?? 'none';
      g.codes[code] = (g.codes[code] ?? 0) + 1;
      if (rec.time < g.first) g.first = rec.time;
      if (rec.time > g.last) g.last = rec.time;
    },
    rows: () =>
      [...groups.values()]
        .sort((a, b) => b.failures - a.failures || (a.claimed < b.claimed ? -1 : 1))
        .map((g) => ({ claimed: g.claimed, verified: false, kid: g.kid, failures: g.failures, sources: [...g.sources].join(' '), codes: g.codes, first: g.first, last: g.last })),
  };
}

/** The identity a refused credential claimed, unverified: `sub@iss`, `key:<id>`, `malformed`, or `none` (records before claims were kept). */
function claimedName(rec: RequestAuditRecord): string {
  const c = rec.claimed;
  if (!c) return 'none';
  if (c.kind === 'api_key') return `key:${c.key_id}`;
  if (c.kind === 'jwt') return `${c.sub ?? '(no sub)'}@${c.iss ?? '(no iss)'}`;
  return 'malformed';
}

function authReport(): Report {
  const groups = new Map<string, { method: string; requests: number; failed: number; principals: Set<string> }>();
  return {
    columns: ['method', 'requests', 'failed', 'principals'],
    add(rec) {
      if (rec.type !== 'request') return;
      const failed = rec.rule === 'stage:authenticate' && rec.status >= 400;
      // A refused credential leaves the method 'none': count it under what it claimed to be.
      const method = failed ? (rec.claimed?.kind ?? 'none') : rec.auth_method;
      let g = groups.get(method);
      if (!g) groups.set(method, (g = { method, requests: 0, failed: 0, principals: new Set() }));
      g.requests++;
      if (failed) g.failed++;
      else if (g.principals.size < MAX_DISTINCT) g.principals.add(rec.principal);
    },
    rows: () => [...groups.values()].sort((a, b) => b.requests - a.requests).map((g) => ({ method: g.method, requests: g.requests, failed: g.failed, principals: g.principals.size })),
  };
}

function summaryReport(by: SummaryKey): Report {
  const groups = new Map<string, { total: number; allow: number; deny: number; invalid: number; errors: number }>();
  return {
    columns: [by, 'total', 'allow', 'deny', 'invalid', 'errors'],
    add(rec) {
      if (rec.type !== 'request') return;
      const key = by === 'model' ? (rec.model ? `${rec.model}/${rec.version ?? '-'}` : '-') : String(rec[by] ?? '-');
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { total: 0, allow: 0, deny: 0, invalid: 0, errors: 0 }));
      g.total++;
      g[rec.decision === 'invalid' ? 'invalid' : rec.decision === 'deny' ? 'deny' : 'allow']++;
      if (rec.status >= 500) g.errors++;
    },
    rows: () => [...groups.entries()].sort((a, b) => b[1].total - a[1].total).map(([key, g]) => ({ [by]: key, ...g })),
  };
}
