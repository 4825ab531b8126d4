// What the pool sandbox costs, in one run: vigil as `npm start` runs it with pools.isolation
// sandbox (bubblewrap, seccomp, cgroups) and with process (plain child processes), alternating
// ROUNDS times so drift on the machine hits both alike. For each: the start-up time (spawn to
// listening, both pools ready) and req/s of mnist and digits, batch 1, 64 connections.
// Prints numbers; asserts nothing.   npm run bench:sandbox   (BENCH_SECONDS=5 ROUNDS=2)
import autocannon from 'autocannon';
import { availableParallelism } from 'node:os';
import { DIGITS_BODY, MNIST_BODY } from './bench-support.js';
import { startVigilChild } from './vigil-child.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const MODES = ['process', 'sandbox'] as const;
const POLICY = `version: 1
roles: { admin: all, analyst: bench }
grants:
  - { id: admin, roles: [admin], actions: ["*"], models: ["*"] }
  - { id: bench, roles: [analyst], actions: [infer], models: [mnist, digits] }
limits: { roles: { analyst: { requests_per_minute: 100000000, items_per_minute: 100000000, concurrency: 1000 } } }
`;

interface Run {
  startMs: number;
  mnist: number;
  digits: number;
  errors: number;
}

async function measure(mode: (typeof MODES)[number]): Promise<Run> {
  const started = performance.now();
  const vigil = await startVigilChild(undefined, { config: { pools: { isolation: mode } }, policy: POLICY });
  const startMs = performance.now() - started;
  try {
    const headers = { 'content-type': 'application/json', ...(await vigil.mint('bench', ['analyst'])) };
    const load = async (model: string, body: string) => {
      const run = (duration: number) => autocannon({ url: `http://127.0.0.1:${vigil.port}/v2/models/${model}/infer`, method: 'POST', headers, body, connections: 64, duration });
      await run(1);
      return run(SECONDS);
    };
    const m = await load('mnist', MNIST_BODY);
    const d = await load('digits', DIGITS_BODY);
    return { startMs, mnist: m.requests.average, digits: d.requests.average, errors: m.errors + m.non2xx + d.errors + d.non2xx };
  } finally {
    await vigil.stop();
  }
}

const runs = new Map<string, Run[]>(MODES.map((m) => [m, []]));
for (let round = 0; round < ROUNDS; round++) for (const mode of MODES) runs.get(mode)!.push(await measure(mode));

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const base = runs.get('process')!;
console.log(`\npool isolation: start-up and throughput, batch 1, 64 connections, ${SECONDS} s per model, ${ROUNDS} rounds, ${availableParallelism()} cores\n`);
for (const mode of MODES) {
  const rs = runs.get(mode)!;
  const ratio = (f: (r: Run) => number) => (mean(rs.map(f)) / mean(base.map(f))).toFixed(2);
  const errors = rs.reduce((n, r) => n + r.errors, 0);
  console.log(
    `${mode.padEnd(8)} start-up ${rs.map((r) => r.startMs.toFixed(0)).join(', ').padStart(11)} ms (×${ratio((r) => r.startMs)})` +
      `   mnist ${rs.map((r) => r.mnist.toFixed(0)).join(', ').padStart(11)} req/s (×${ratio((r) => r.mnist)})` +
      `   digits ${rs.map((r) => r.digits.toFixed(0)).join(', ').padStart(11)} req/s (×${ratio((r) => r.digits)})${errors ? `  ERRORS ${errors}` : ''}`,
  );
}
