// What telemetry costs: the gateway as shipped (full security chain, cached token) with request
// metrics off, metrics on (the default), and metrics plus traces exported (JSON Lines, every span
// of every request, in gateway and pool), mnist batch 1, 64 connections, in one run.
// Prints numbers; asserts nothing.
//   npm run build && node dist/bench/telemetry-cost.js     (BENCH_SECONDS=10 for longer runs)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchCaller, gateway } from './variant-gateway.js';
import { MNIST_BODY, cpuMicros } from './bench-support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const body = MNIST_BODY;

const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-tel-'));
const token = await benchCaller(scratch);
const rows: { label: string; rps: number; cpu: number; p99: number }[] = [];
try {
  for (const [label, telemetry, traced] of [
    ['telemetry off       ', false, false],
    ['metrics on (default)', true, false],
    ['metrics + traces    ', true, true],
  ] as const) {
    const g = await gateway(scratch, true, 10_000, telemetry, traced ? { VIGIL_TRACES_DIR: join(scratch, 'traces') } : {});
    const run = (duration: number) =>
      autocannon({ url: `http://127.0.0.1:${g.port}/v2/models/mnist/infer`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body, connections: 64, duration });
    await run(1);
    const before = cpuMicros(g.child.pid!);
    const r = await run(SECONDS);
    rows.push({ label, rps: r.requests.average, cpu: (cpuMicros(g.child.pid!) - before) / r.requests.total, p99: r.latency.p99 });
    g.child.kill('SIGTERM');
    await new Promise((resolve) => g.child.once('exit', resolve));
    await rm(g.runtimeDir, { recursive: true, force: true });
  }
  console.log(`\ntelemetry cost: mnist batch 1, 64 connections, ${SECONDS} s per run\n`);
  for (const r of rows) console.log(`${r.label} ${r.rps.toFixed(0).padStart(6)} req/s  p99 ${String(r.p99).padStart(3)} ms  gateway CPU/request ${r.cpu.toFixed(0)} µs`);
  console.log(`\nmetrics on / off: throughput ×${(rows[1].rps / rows[0].rps).toFixed(2)}, gateway CPU +${(rows[1].cpu - rows[0].cpu).toFixed(0)} µs per request`);
  console.log(`metrics + traces / off: throughput ×${(rows[2].rps / rows[0].rps).toFixed(2)}, gateway CPU +${(rows[2].cpu - rows[0].cpu).toFixed(0)} µs per request`);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
