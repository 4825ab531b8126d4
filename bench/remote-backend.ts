// What serving a model through a remote backend costs against a local pool, in one run on this
// machine (loopback, everything on the same cores):
//   (1) vigil with its own local pools                                   — the baseline
//   (2) vigil → `vigil pool serve` over mutual TLS (backend: oip-http)
//   (3) vigil → `vigil pool serve` over plain HTTP (--plaintext)          — what TLS adds
// For digits (no squeezing: the same rows go to the server) and mnist (3 squeezers: each request
// is 4 rows at the server). Batch 1, 64 connections, each its own caller.
// Needs openssl (Debian package).  npm run bench:remote  (BENCH_SECONDS=10)
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnPoolServe, type PoolServeProcess } from '../test/helpers/pool-serve-process.js';
import { poolServeRepository, remoteRepository } from '../test/helpers/remote-models.js';
import { makeTestPki, opensslSkip } from '../test/helpers/test-pki.js';
import { spawnVigil, type VigilProcess } from '../test/helpers/vigil-process.js';
import { CALLERS_POLICY, callerTokens, cpuMicros, loadOneCallerEach } from './bench-support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 64;
const MODELS = ['digits', 'mnist'] as const;

if (opensslSkip) {
  process.stderr.write(`bench:remote needs ${opensslSkip}\n`);
  process.exit(2);
}

const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-remote-'));
const stateDir = join(scratch, 'state');
await writeFile(join(scratch, 'policy.yaml'), CALLERS_POLICY);
const tokens = await callerTokens(stateDir, CONNECTIONS);

async function gateway(name: string, repository: string): Promise<VigilProcess> {
  const file = join(scratch, `${name}.yaml`);
  await writeFile(file, [`models: { repository: ${JSON.stringify(repository)} }`, 'auth: { dev_mode: true }', `policy: { file: ${JSON.stringify(join(scratch, 'policy.yaml'))}, watch: false }`, ''].join('\n'));
  return spawnVigil({ VIGIL_CONFIG: file, VIGIL_STATE_DIR: stateDir, VIGIL_AUDIT_DIR: join(scratch, 'audit', name) });
}

async function stop(p: { child: ChildProcess; exited: Promise<unknown> }): Promise<void> {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await p.exited;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  gatewayCpu: number;
  serverCpu: number;
}

async function load(port: number, model: string, gatewayPid: number, serverPid?: number): Promise<Result> {
  const cpu = () => [cpuMicros(gatewayPid), serverPid ? cpuMicros(serverPid) : 0];
  const { result: r, cpuMicros: [gateway, server] } = await loadOneCallerEach(port, model, tokens, SECONDS, cpu);
  const n = Math.max(1, r.requests.total);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, gatewayCpu: gateway / n, serverCpu: server / n };
}

const results = new Map<string, Result>();
const print = (label: string, model: string, r: Result) => {
  results.set(`${label} ${model}`, r);
  process.stdout.write(
    `${label.padEnd(34)} ${model.padEnd(6)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(0).padStart(3)} ms  p99 ${r.p99.toFixed(0).padStart(4)} ms  gateway CPU/request ${r.gatewayCpu.toFixed(0).padStart(5)} µs${r.serverCpu ? `  pool serve front ${r.serverCpu.toFixed(0)} µs` : ''}${r.errors ? `  errors ${r.errors}` : ''}\n`,
  );
};

process.stdout.write(`\nremote backends: batch 1, ${CONNECTIONS} connections (one caller each), ${SECONDS} s per run, ${availableParallelism()} cores\n\n`);
const pki = await makeTestPki();
const poolRepo = await poolServeRepository();

const local = await gateway('local', resolve('models'));
for (const model of MODELS) print('(1) local pools', model, await load(local.port, model, local.child.pid!));
await stop(local);

for (const [label, tls] of [['(2) remote, mutual TLS', true], ['(3) remote, plain HTTP', false]] as const) {
  const servers = new Map<string, PoolServeProcess>();
  for (const model of MODELS) {
    const flags = tls ? ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--client-ca', pki.ca] : ['--plaintext'];
    servers.set(model, await spawnPoolServe(['--model', model, '--listen', '127.0.0.1:0', ...flags], { VIGIL_MODEL_REPOSITORY: poolRepo.dir }));
  }
  const backends = Object.fromEntries(
    MODELS.map((m) => [m, { kind: 'oip-http', url: `${tls ? 'https://localhost' : 'http://127.0.0.1'}:${servers.get(m)!.port}`, connections: 64, ...(tls ? { tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } } : {}) }]),
  );
  const repo = await remoteRepository(backends);
  const g = await gateway(tls ? 'mtls' : 'plain', repo.dir);
  for (const model of MODELS) print(label, model, await load(g.port, model, g.child.pid!, servers.get(model)!.child.pid));
  await stop(g);
  await Promise.all([...servers.values()].map((s) => s.stop()));
  await repo.cleanup();
}
await poolRepo.cleanup();

process.stdout.write('\n');
for (const model of MODELS) {
  const base = results.get(`(1) local pools ${model}`)!;
  const mtls = results.get(`(2) remote, mutual TLS ${model}`)!;
  const plain = results.get(`(3) remote, plain HTTP ${model}`)!;
  process.stdout.write(
    `${model}: remote over mTLS / local: throughput ×${(mtls.rps / base.rps).toFixed(2)}, gateway CPU +${(mtls.gatewayCpu - base.gatewayCpu).toFixed(0)} µs per request; plain HTTP / local ×${(plain.rps / base.rps).toFixed(2)}\n`,
  );
}
