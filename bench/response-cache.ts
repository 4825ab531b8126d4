// What the response cache does to latency, and so how well one request's timing tells a hit
// from a miss (the side channel its README section names). One gateway with the full chain,
// mnist with `response_cache`, requests one at a time (concurrency 1, keep-alive):
//   misses: a different digit each time (one pixel nudged, so no two are alike)
//   hits:   the same digit again
// Prints medians, p10/p90 and the share of requests a midpoint threshold classifies right.
//   npm run build && node dist/bench/response-cache.js     (BENCH_REQUESTS=2000 for more)
import { appendFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { MNIST_SAMPLE, percentile } from './bench-support.js';
import { benchCaller, gateway } from './variant-gateway.js';

const N = Number(process.env.BENCH_REQUESTS ?? 1000);
const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-cache-'));
const repository = join(scratch, 'models');
await cp('models', repository, { recursive: true });
await appendFile(join(repository, 'mnist', '1', 'model.yaml'), `\nresponse_cache: { max_entries: ${N * 2} }\n`);
const token = await benchCaller(scratch);
const gw = await gateway(scratch, true, 10_000, true, {}, repository);
const agent = new Agent({ connections: 1 });
const body = (nudge: number) => JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: MNIST_SAMPLE.map((v, i) => (i === 400 ? Math.min(1, v + nudge) : v)) }] });
const infer = async (text: string): Promise<number> => {
  const start = process.hrtime.bigint();
  const res = await request(`http://127.0.0.1:${gw.port}/v2/models/mnist/infer`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: text });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  return Number(process.hrtime.bigint() - start) / 1000;
};
try {
  const same = body(0);
  await infer(same); // kept from here on
  for (let i = 0; i < 200; i++) await infer(i % 2 ? same : body((i + 1) * 1e-7)); // warm-up
  const misses: number[] = [];
  const hits: number[] = [];
  // Interleaved, so drift in the machine's load falls on both alike.
  for (let i = 0; i < N; i++) {
    misses.push(await infer(body((1000 + i) * 1e-7)));
    hits.push(await infer(same));
  }
  const mid = (percentile(misses, 50) + percentile(hits, 50)) / 2;
  const right = (hits.filter((t) => t < mid).length + misses.filter((t) => t >= mid).length) / (2 * N);
  const row = (name: string, xs: number[]) => `${name.padEnd(7)} p10 ${percentile(xs, 10).toFixed(0).padStart(5)} µs   p50 ${percentile(xs, 50).toFixed(0).padStart(5)} µs   p90 ${percentile(xs, 90).toFixed(0).padStart(5)} µs`;
  process.stdout.write(`response cache, ${N} misses and ${N} hits, one at a time\n${row('miss', misses)}\n${row('hit', hits)}\n`);
  process.stdout.write(`hit/miss p50 ratio ${(percentile(hits, 50) / percentile(misses, 50)).toFixed(2)}; one request's time, cut at ${mid.toFixed(0)} µs, says hit or miss rightly ${(right * 100).toFixed(1)}% of the time\n`);
} finally {
  gw.child.kill('SIGTERM');
  await new Promise((r) => gw.child.once('exit', r));
  await agent.close();
  await rm(scratch, { recursive: true, force: true });
  await rm(gw.runtimeDir, { recursive: true, force: true });
}
