// What the audit log costs on the hot path: AuditLog.append() of a realistic request record, at
// concurrency 1 (one request at a time: every append is its own write) and 64 (appends queue
// behind the write in flight and go out together), plain sha256 and HMAC + Ed25519 checkpoints.
// Prints appends/s, per-append latency (call to resolve) and records per write(). Asserts nothing.
//   npm run build && node dist/bench/audit-append.js        (BENCH_SECONDS=5 for longer runs)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditLogOptions } from '../gateway/src/audit/audit-log.js';
import type { RequestAuditRecord } from '../gateway/src/audit/audit-record.js';
import { auditLogOptions } from '../gateway/src/config/audit-options.js';
import { configSchema } from '../gateway/src/config/schema.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

// Count write() calls (the writer uses the callback API) to show the group commit at work.
let writes = 0;
const realWrite = fs.write;
(fs as unknown as { write: (...args: unknown[]) => void }).write = function (this: unknown, ...args: unknown[]) {
  writes++;
  return (realWrite as unknown as (...a: unknown[]) => void).apply(this, args);
};
syncBuiltinESMExports();

let n = 0;
function record(): RequestAuditRecord {
  n++;
  return {
    type: 'request',
    time: new Date().toISOString(),
    request_id: `01J${n.toString(36).padStart(10, '0')}`,
    client_request_id: null,
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    principal: 'user:https://idp.example.com/alice',
    auth_method: 'jwt',
    source: '10.20.30.40',
    method: 'POST',
    action: 'infer',
    model: 'mnist',
    version: '1',
    decision: 'allow',
    rule: 'grant:analysts-infer',
    code: null,
    modes: { authorization: 'enforce', limits: 'enforce', screening: 'shadow' },
    shadow_denials: [],
    status: 200,
    latency_ms: 1.734,
    bytes_in: 3188,
    bytes_out: 142,
    batch: 1,
  };
}

interface Result {
  rate: number;
  p50: number;
  p99: number;
  max: number;
  perWrite: number;
  bytes: number;
}

async function measure(opts: Partial<AuditLogOptions>, concurrency: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-audit-'));
  // The gateway's defaults (the config schema's), with the mode's keys.
  const log = await AuditLog.open({ ...auditLogOptions(configSchema.parse({}).audit, { hmacKey: undefined, signingKey: undefined }), ...opts, dir });
  // warm up
  for (let i = 0; i < 2000; i++) await log.append(record());
  const latencies: number[] = [];
  const w0 = writes;
  let count = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = process.hrtime.bigint();
        await log.append(record());
        latencies.push(Number(process.hrtime.bigint() - t) / 1000);
        count++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const w = writes - w0;
  await log.close();
  const bytes = fs.readdirSync(dir).filter((f) => f.startsWith('audit-')).reduce((s, f) => s + fs.statSync(join(dir, f)).size, 0);
  await rm(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { rate: count / elapsed, p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1], perWrite: count / w, bytes: bytes / (count + 2000) };
}

const { privateKey } = generateKeyPairSync('ed25519');
const modes: [string, Partial<AuditLogOptions>][] = [
  ['sha256, unsigned checkpoints', {}],
  ['HMAC + Ed25519 checkpoints', { hmacKey: randomBytes(32), signingKey: privateKey }],
];

console.log(`audit append, ${SECONDS} s per run, checkpoint every 1000 records (fdatasync + signed line), files rotate at 64 MiB`);
console.log('mode                          conc   appends/s   p50 µs   p99 µs   max µs   records/write   bytes/record');
for (const [name, opts] of modes) {
  for (const c of [1, 64]) {
    const r = await measure(opts, c);
    console.log(
      `${name.padEnd(29)} ${String(c).padStart(4)} ${r.rate.toFixed(0).padStart(11)} ${r.p50.toFixed(0).padStart(8)} ${r.p99.toFixed(0).padStart(8)} ${r.max.toFixed(0).padStart(8)} ${r.perWrite.toFixed(1).padStart(15)} ${r.bytes.toFixed(0).padStart(14)}`,
    );
  }
}
