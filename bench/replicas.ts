// What sharing state in Redis costs, and what replicas buy, in one run on this machine (loopback):
//   (1) one vigil, memory stores, called directly           — the baseline
//   (2) one vigil, Redis stores, called directly            — the shared store's cost per request
//   (3) one vigil, Redis stores, through HAProxy            — the load balancer's hop
//   (4) three vigils, Redis stores, through HAProxy (round robin)
// For digits (64 features) and mnist (784: its extraction state is 12× larger), batch 1, 64
// connections, each connection its own caller (64 principals, as many callers would be).
// Needs redis-server and haproxy (Debian packages).  npm run bench:replicas  (BENCH_SECONDS=10)
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { haproxySkip, startHaproxy } from '../test/helpers/haproxy.js';
import { redisSkip, startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { spawnVigil, type VigilProcess } from '../test/helpers/vigil-process.js';
import { CALLERS_POLICY, callerTokens, cpuMicros, loadOneCallerEach } from './bench-support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 64;

if (redisSkip || haproxySkip) {
  process.stderr.write(`bench:replicas needs ${[redisSkip, haproxySkip].filter(Boolean).join(' and ')}\n`);
  process.exit(2);
}

const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-replicas-'));
const stateDir = join(scratch, 'state');
await writeFile(join(scratch, 'policy.yaml'), CALLERS_POLICY);
const tokens = await callerTokens(stateDir, CONNECTIONS);

async function config(name: string, redis: TestRedis | null): Promise<string> {
  const store = redis ? `{ kind: redis, url: "${redis.url}" }` : '{ kind: memory }';
  const file = join(scratch, `${name}.yaml`);
  await writeFile(
    file,
    [
      `models: { repository: ${JSON.stringify(resolve('models'))} }`,
      `auth: { dev_mode: true, failures: { store: ${store} } }`,
      `policy: { file: ${JSON.stringify(join(scratch, 'policy.yaml'))}, watch: false }`,
      `limits: { store: ${store} }`,
      `screening: { store: ${store} }`,
      '',
    ].join('\n'),
  );
  return file;
}

type Replica = VigilProcess;

/** A vigil process as `vigil start` runs, sharing the callers' signing key and one audit folder. */
function startReplica(configFile: string, id: string): Promise<Replica> {
  return spawnVigil({ VIGIL_CONFIG: configFile, VIGIL_STATE_DIR: stateDir, VIGIL_AUDIT_DIR: join(scratch, 'audit'), VIGIL_REPLICA_ID: id });
}

async function stopAll(replicas: Replica[]): Promise<void> {
  await Promise.all(
    replicas.map(async ({ child, exited }) => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }),
  );
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  gatewayCpu: number;
  redisCpu: number;
}

async function load(port: number, model: string, pids: { gateways: number[]; redis?: number }): Promise<Result> {
  const cpu = () => [pids.gateways.reduce((sum, p) => sum + cpuMicros(p), 0), pids.redis ? cpuMicros(pids.redis) : 0];
  const { result: r, cpuMicros: [gateway, redis] } = await loadOneCallerEach(port, model, tokens, SECONDS, cpu);
  const n = Math.max(1, r.requests.total);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, gatewayCpu: gateway / n, redisCpu: redis / n };
}

const rows: { label: string; model: string; r: Result }[] = [];
const print = (label: string, model: string, r: Result) => {
  rows.push({ label, model, r });
  process.stdout.write(
    `${label.padEnd(38)} ${model.padEnd(6)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(0).padStart(3)} ms  p99 ${r.p99.toFixed(0).padStart(4)} ms  gateway CPU/request ${r.gatewayCpu.toFixed(0).padStart(5)} µs${r.redisCpu ? `  redis ${r.redisCpu.toFixed(0)} µs` : ''}${r.errors ? `  errors ${r.errors}` : ''}\n`,
  );
};

process.stdout.write(`\nreplicas and shared state: batch 1, ${CONNECTIONS} connections (one caller each), ${SECONDS} s per run, ${(await import('node:os')).availableParallelism()} cores\n\n`);
const redis = await startRedis();
try {
  const memory = await startReplica(await config('memory', null), 'm1');
  for (const model of ['digits', 'mnist']) print('(1) 1 vigil, memory stores, direct', model, await load(memory.port, model, { gateways: [memory.child.pid!] }));
  await stopAll([memory]);

  const redisConfig = await config('redis', redis);
  const replicas = [await startReplica(redisConfig, 'r1')];
  for (const model of ['digits', 'mnist']) print('(2) 1 vigil, Redis stores, direct', model, await load(replicas[0].port, model, { gateways: [replicas[0].child.pid!], redis: redis.pid }));
  const one = await startHaproxy([replicas[0].port]);
  print('(3) 1 vigil, Redis, through HAProxy', 'mnist', await load(one.port, 'mnist', { gateways: [replicas[0].child.pid!], redis: redis.pid }));
  await one.stop();
  replicas.push(await startReplica(redisConfig, 'r2'), await startReplica(redisConfig, 'r3'));
  const three = await startHaproxy(replicas.map((r) => r.port));
  print('(4) 3 vigils, Redis, through HAProxy', 'mnist', await load(three.port, 'mnist', { gateways: replicas.map((r) => r.child.pid!), redis: redis.pid }));
  await three.stop();
  await stopAll(replicas);
} finally {
  await redis.stop();
}

const get = (label: string, model: string) => rows.find((x) => x.label.startsWith(label) && x.model === model)!.r;
process.stdout.write('\n');
for (const model of ['digits', 'mnist']) {
  const m = get('(1)', model);
  const r = get('(2)', model);
  process.stdout.write(`${model}: Redis stores / memory stores: throughput ×${(r.rps / m.rps).toFixed(2)}, gateway CPU +${(r.gatewayCpu - m.gatewayCpu).toFixed(0)} µs per request, Redis CPU ${r.redisCpu.toFixed(0)} µs per request\n`);
}
process.stdout.write(`mnist: 3 replicas / 1 replica, both through HAProxy: throughput ×${(get('(4)', 'mnist').rps / get('(3)', 'mnist').rps).toFixed(2)}\n`);
