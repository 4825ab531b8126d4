// What vigil's security chain (authenticate → authorize → limit → audit) costs per request, in one
// run on this machine, mnist batch 1 at concurrency 64:
//   (A) full chain, repeat caller (its verified token cached)
//   (B) full chain, token cache off (an ES256 verification every request)
//   (C) the same gateway with no chain at all (baseline)
//   (D) HAProxy 2.6 doing jwt_verify + a stick-table rate limit in front of the same kind of pool
// Ratios are against (C). Needs `haproxy` on PATH for (D) (Debian: apt-get install haproxy).
//   npm run build && node dist/bench/security-chain.js     (BENCH_SECONDS=10 for longer runs)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKey, mintDevToken } from '../gateway/src/auth/dev-signing-key.js';
import { gateway } from './variant-gateway.js';
import { MNIST_BODY, cpuMicros } from './bench-support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 64;
const body = MNIST_BODY;

const POLICY = `version: 1
roles: { analyst: bench }
grants: [{ id: analyst-mnist, roles: [analyst], actions: [infer, metadata], models: [mnist] }]
limits:
  roles:
    analyst: { requests_per_minute: 100000000, items_per_minute: 100000000, concurrency: 1000 }
`;

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpu: Record<string, number>;
}

async function measure(url: string, headers: Record<string, string>, pids: Record<string, number>): Promise<Run> {
  const run = (duration: number) => autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, connections: CONNECTIONS, duration });
  await run(1);
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMicros(p)]));
  const r = await run(SECONDS);
  const cpu = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, (cpuMicros(p) - before[k]) / r.requests.total]));
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, cpu };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

function haproxyAvailable(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function haproxy(scratch: string, poolSocket: string, publicKeyPem: string) {
  const pem = join(scratch, 'dev-public.pem');
  await writeFile(pem, publicKeyPem);
  const port = 18_000 + Math.floor(Math.random() * 2000);
  // JWT checks as close to vigil's as HAProxy's converters allow: alg pinned, signature, iss, aud,
  // exp; then a per-subject request-rate limit in a stick table.
  const cfg = `global
  nbthread 1
  maxconn 2000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${port}
  stick-table type string len 128 size 100k expire 60s store http_req_rate(60s)
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny deny_status 401 unless { var(txn.alg) -m str ES256 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"${pem}") -m int 1 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.iss') -m str ${DEV_ISSUER} }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.aud') -m str ${DEV_AUDIENCE} }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date
  http-request deny deny_status 401 if { var(txn.exp),sub(txn.now) -m int lt 0 }
  http-request track-sc0 var(txn.bearer),jwt_payload_query('$.sub')
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 100000000 }
  http-request set-path /v2/models/mnist/versions/1/infer
  default_backend pool
backend pool
  http-reuse always
  server pool ${poolSocket}
`;
  const file = join(scratch, 'haproxy.cfg');
  await writeFile(file, cfg);
  execFileSync('haproxy', ['-c', '-f', file], { stdio: 'ignore' });
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((r) => setTimeout(r, 500));
  return { child, port };
}

const fmt = (r: Run) =>
  `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(3)} ms  CPU/request: ${Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${v.toFixed(0)} µs`)
    .join(', ')}${r.errors ? `  ERRORS ${r.errors}` : ''}`;

const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-sec-'));
await writeFile(join(scratch, 'policy.yaml'), POLICY);
const key = await loadOrCreateDevKey(join(scratch, 'state'));
const token = await mintDevToken(key, { sub: 'bench', roles: ['analyst'], ttlSeconds: 3600 });
const auth = { authorization: `Bearer ${token}` };
const results: [string, Run][] = [];
const cleanup: ChildProcess[] = [];
try {
  for (const [label, chain, cache] of [
    ['(C) no security chain            ', false, 0],
    ['(A) full chain, token cached     ', true, 10_000],
    ['(B) full chain, no token cache   ', true, 0],
  ] as const) {
    const g = await gateway(scratch, chain, cache);
    cleanup.push(g.child);
    results.push([label, await measure(`http://127.0.0.1:${g.port}/v2/models/mnist/infer`, chain ? auth : {}, { gateway: g.child.pid!, pool: g.poolPid })]);
    if (label.startsWith('(B)') && haproxyAvailable()) {
      const h = await haproxy(scratch, g.poolSocket, createPublicKey({ key: key.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString());
      cleanup.push(h.child);
      results.push(['(D) HAProxy jwt_verify + limit  ', await measure(`http://127.0.0.1:${h.port}/v2/models/mnist/infer`, auth, { haproxy: h.child.pid!, pool: g.poolPid })]);
      await stop(h.child);
    }
    await stop(g.child);
    await rm(g.runtimeDir, { recursive: true, force: true });
  }
  const base = results[0][1].rps;
  console.log(`\nsecurity chain cost: mnist batch 1, ${CONNECTIONS} connections, ${SECONDS} s per run, 2 cores\n`);
  for (const [label, r] of results) console.log(`${label} ${fmt(r)}   ×${(r.rps / base).toFixed(2)} of (C)`);
  if (!haproxyAvailable()) console.log('\n(D) skipped: haproxy is not installed (apt-get install haproxy)');
} finally {
  for (const c of cleanup) await stop(c);
  await rm(scratch, { recursive: true, force: true });
}
