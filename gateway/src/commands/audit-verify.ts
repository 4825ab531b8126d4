import { auditDirOf } from './audit-dir.js';
import { readHmacKeyFile, readPublicKeyFile } from '../audit/chain.js';
import { printable } from '../audit/printable.js';
import { chainDirs } from '../audit/replica-chains.js';
import { verifyAudit, type VerifyReport } from '../audit/verify.js';

export interface AuditVerifyOptions {
  /** File holding the HMAC key the log was written with (hex). */
  hmacKeyFile?: string;
  /** Ed25519 public key (PEM) that signed the checkpoints. */
  publicKeyFile?: string;
  /** Checkpoints to hold the log against (default `<dir>/checkpoints.jsonl`), e.g. a copy shipped elsewhere. */
  checkpoints?: string;
  json?: boolean;
  /** Config file whose `audit.dir` is used when no dir is given. */
  config?: string;
}

/**
 * `vigil audit verify [dir] [--hmac-key-file F] [--public-key-file F] [--checkpoints F] [--json]`:
 * exit 0 when the log is intact and proven so, 1 with every finding otherwise, 2 when it could
 * not be checked at all (no such directory, unreadable key).
 */
export async function auditVerifyCommand(dir: string | undefined, opts: AuditVerifyOptions = {}): Promise<number> {
  const reports: { replica: string | null; report: VerifyReport }[] = [];
  try {
    const target = await auditDirOf(dir, opts.config);
    const hmacKey = opts.hmacKeyFile ? await readHmacKeyFile(opts.hmacKeyFile) : undefined;
    const publicKey = opts.publicKeyFile ? await readPublicKeyFile(opts.publicKeyFile) : undefined;
    // A directory of several replicas' chains: each is verified on its own (its own seq and checkpoints).
    const chains = await chainDirs(target);
    if (chains.length > 1 && opts.checkpoints) throw new Error(`--checkpoints names one chain's checkpoints; ${target} holds ${chains.length} chains (give one replica's directory)`);
    for (const c of chains) reports.push({ replica: c.replica, report: await verifyAudit(c.dir, { hmacKey, publicKey, checkpointsFile: opts.checkpoints }) });
  } catch (err) {
    process.stderr.write(`vigil audit verify: ${(err as Error).message}\n`);
    return 2;
  }
  const ok = reports.every((r) => r.report.ok);
  if (reports.length === 1 && reports[0].replica === null) {
    process.stdout.write(opts.json ? JSON.stringify(reports[0].report, null, 2) + '\n' : formatReport(reports[0].report));
  } else if (opts.json) {
    process.stdout.write(JSON.stringify({ ok, replicas: reports.map((r) => ({ replica: r.replica, ...r.report })) }, null, 2) + '\n');
  } else {
    for (const r of reports) process.stdout.write(`replica ${printable(String(r.replica))}:\n${formatReport(r.report)}\n`);
    const bad = reports.filter((r) => !r.report.ok).map((r) => printable(String(r.replica)));
    process.stdout.write(ok ? `ALL ${reports.length} REPLICA CHAINS INTACT.\n` : `NOT INTACT: ${bad.join(', ')} (of ${reports.length} replica chains).\n`);
  }
  return ok ? 0 : 1;
}

export function formatReport(r: VerifyReport): string {
  const lines: string[] = [`audit log ${r.dir}`];
  const nonEmpty = r.files.filter((f) => f.records > 0);
  lines.push(
    r.records === 0
      ? '  records      none'
      : `  records      ${r.records} (seq ${nonEmpty[0]?.first_seq ?? '?'}..${r.last_seq}) in ${r.files.length} file(s), chained with ${r.mode ?? '?'}`,
  );
  if (r.head_hash) lines.push(`  head         ${printable(r.head_hash)}`);
  const c = r.checkpoints;
  lines.push(
    c.count === 0
      ? `  checkpoints  none in ${c.file}`
      : `  checkpoints  ${c.count} in ${c.file}, ${c.signature === 'none' ? 'unsigned' : `signed ${printable(String(c.signature))}`}; latest: seq ${c.latest?.seq} at ${printable(String(c.latest?.time))}`,
  );
  // Findings quote stored text (hashes, times, file names): never raw to a terminal.
  for (const note of r.notes) lines.push(`  note: ${printable(note)}`);
  lines.push('');
  if (r.ok) {
    lines.push('INTACT: every record matches its hash, the chain is unbroken' + (c.latest ? ` and reaches the latest checkpoint (seq ${c.latest.seq}).` : '.'));
  } else {
    const total = r.findings.length + r.findings_omitted;
    const unverifiedOnly = r.findings.every((f) => f.kind === 'unverifiable');
    lines.push(`${unverifiedOnly ? 'NOT VERIFIED' : 'TAMPERING OR DAMAGE FOUND'}: ${total} finding(s)`);
    const width = Math.max(...r.findings.map((f) => f.kind.length));
    for (const f of r.findings) lines.push(`  ${f.kind.padEnd(width)}  ${printable(f.message)}`);
    if (r.findings_omitted) lines.push(`  … and ${r.findings_omitted} more`);
  }
  return lines.join('\n') + '\n';
}
