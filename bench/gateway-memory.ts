// The gateway's peak RSS under load with the V8 heap flags `npm start` ships, against V8's defaults
// and the semi-space flag alone, in one run: each variant is a fresh vigil (as npm start runs it)
// under 64 connections of mnist inference for BENCH_SECONDS; the variants alternate, ROUNDS times,
// so drift on the machine hits them alike. Prints numbers; asserts nothing.
//   npm run bench:memory          (BENCH_SECONDS=8 ROUNDS=2 by default)
import autocannon from 'autocannon';
import { MNIST_BODY } from './bench-support.js';
import { npmStartNodeFlags, startVigilChild } from './vigil-child.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const VARIANTS: { name: string; flags: string[] }[] = [
  { name: 'V8 defaults', flags: [] },
  { name: '--max-semi-space-size=8', flags: ['--max-semi-space-size=8'] },
  { name: `shipped: ${npmStartNodeFlags().join(' ')}`, flags: npmStartNodeFlags() },
];

async function measure(flags: string[]): Promise<{ rps: number; peak: number; errors: number }> {
  const vigil = await startVigilChild(flags);
  try {
    const run = (duration: number) =>
      autocannon({ url: `http://127.0.0.1:${vigil.port}/v2/models/mnist/infer`, method: 'POST', headers: { 'content-type': 'application/json', ...vigil.auth }, body: MNIST_BODY, connections: 64, duration });
    await run(1);
    const r = await run(SECONDS);
    return { rps: r.requests.average, peak: vigil.peakRssMb(), errors: r.errors + r.non2xx };
  } finally {
    await vigil.stop();
  }
}

const results = new Map<string, { rps: number; peak: number; errors: number }[]>(VARIANTS.map((v) => [v.name, []]));
for (let round = 0; round < ROUNDS; round++) for (const v of VARIANTS) results.get(v.name)!.push(await measure(v.flags));

console.log(`\ngateway peak RSS (VmHWM, pools excluded), mnist batch 1, 64 connections, ${SECONDS} s per run, ${ROUNDS} rounds\n`);
const base = results.get(VARIANTS[0].name)!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const v of VARIANTS) {
  const rs = results.get(v.name)!;
  const errors = rs.reduce((n, r) => n + r.errors, 0);
  console.log(
    `${v.name.padEnd(72)} peak ${rs.map((r) => r.peak.toFixed(0)).join(', ').padStart(10)} MB (×${(mean(rs.map((r) => r.peak)) / mean(base.map((r) => r.peak))).toFixed(2)})` +
      `   ${rs.map((r) => r.rps.toFixed(0)).join(', ').padStart(12)} req/s (×${(mean(rs.map((r) => r.rps)) / mean(base.map((r) => r.rps))).toFixed(2)})${errors ? `  ERRORS ${errors}` : ''}`,
  );
}
