// What the pool's dynamic batcher buys: mnist batch 1 (with its bundled screening: squeezed copies
// in the same run), 64 connections, with the bundled `dynamic_batching` (no delay) against the
// same model without it (one request per run), in one run on this machine:
//   pool direct (autocannon on the pool's socket) and through the gateway as shipped,
// with the CPU the pool spends per request and the mean items per run the pool reported.
// Prints numbers; asserts nothing.
//   npm run build && node dist/bench/dynamic-batching.js     (BENCH_SECONDS=10 for longer runs)
import { Agent, request } from 'node:http';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchCaller, gateway } from './variant-gateway.js';
import { MNIST_BODY, cpuMicros } from './bench-support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const body = MNIST_BODY;

async function load(opts: { url: string; socketPath?: string; headers?: Record<string, string> }, poolPid: number) {
  const run = (duration: number) =>
    autocannon({ url: opts.url, socketPath: opts.socketPath, method: 'POST', headers: { 'content-type': 'application/json', ...opts.headers }, body, connections: 64, duration });
  await run(1);
  const before = cpuMicros(poolPid);
  const r = await run(SECONDS);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, poolCpu: (cpuMicros(poolPid) - before) / r.requests.total, errors: r.errors + r.non2xx };
}

/** Mean items per run the pool reported (its answer header) for 64 concurrent clients sending 20 requests each. */
async function itemsPerRun(socketPath: string): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const sizes: number[] = [];
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ socketPath, agent, path: '/v2/models/mnist/versions/1/infer', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        sizes.push(Number(res.headers['x-vigil-batch-items']));
        res.resume().once('end', resolve);
      });
      req.once('error', reject);
      req.end(body);
    });
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let i = 0; i < 20; i++) await one();
  }));
  agent.destroy();
  return sizes.reduce((a, b) => a + b, 0) / sizes.length;
}

const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-batch-'));
const token = await benchCaller(scratch);
const unbatched = join(scratch, 'models');
await cp('models', unbatched, { recursive: true });
const yaml = join(unbatched, 'mnist', '1', 'model.yaml');
await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/dynamic_batching:\n {2}max_queue_delay_microseconds: 0\n/, ''));

const rows: string[] = [];
const results: Record<string, { direct: number; gateway: number }> = {};
try {
  for (const [label, repository] of [
    ['dynamic batching (as shipped)', 'models'],
    ['one request per run          ', unbatched],
  ] as const) {
    const g = await gateway(scratch, true, 10_000, true, {}, repository);
    try {
      const direct = await load({ url: 'http://pool/v2/models/mnist/versions/1/infer', socketPath: g.poolSocket }, g.poolPid);
      const items = await itemsPerRun(g.poolSocket);
      const via = await load({ url: `http://127.0.0.1:${g.port}/v2/models/mnist/infer`, headers: { authorization: `Bearer ${token}` } }, g.poolPid);
      results[label] = { direct: direct.rps, gateway: via.rps };
      const fmt = (r: typeof direct) => `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(3)} ms  pool CPU/request ${r.poolCpu.toFixed(0).padStart(4)} µs${r.errors ? `  ERRORS ${r.errors}` : ''}`;
      rows.push(`${label}  pool direct     ${fmt(direct)}  (mean items per run: ${items.toFixed(1)})`, `${label}  through gateway ${fmt(via)}`);
    } finally {
      g.child.kill('SIGTERM');
      await new Promise((r) => g.child.once('exit', r));
      await rm(g.runtimeDir, { recursive: true, force: true });
    }
  }
  console.log(`\ndynamic batching: mnist batch 1 (screened: 4 rows per request), 64 connections, ${SECONDS} s per run\n`);
  for (const r of rows) console.log(r);
  const [on, off] = Object.values(results);
  console.log(`\nbatching on / off: pool direct ×${(on.direct / off.direct).toFixed(2)}, through the gateway ×${(on.gateway / off.gateway).toFixed(2)}`);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
