// What the gateway costs: mnist inference (batch 1) measured three ways in one run, so the
// ratios compare like with like on this machine:
//   (a) the pool worker called directly on its Unix socket (HTTP + JSON + ONNX Runtime)
//   (b) the same through the gateway as shipped: route, authenticate (cached token), authorize,
//       limits, bounded read, JSON validation, the model's detectors, proxy, and the audit record
//       before every answer (the pool screens and batches as shipped in (a) and (b) alike)
//   (c) ONNX Runtime in this process, no HTTP at all
//   (d) a bare node:http + http-proxy-middleware hop to the same socket: the floor any
//       hpm-based gateway pays, to tell vigil's own cost from the library's
//   (e) the same bare hop with undici's Pool upstream instead: would another library move it?
//   (a bin), (b bin) (a) and (b) with the request as Triton's client sends it: binary tensor data
//       in and out, no JSON numbers on either side of the gateway
// at concurrency 1 and 64, plus the gateway process's peak RSS. Prints numbers; asserts nothing.
//   npm run bench            (BENCH_SECONDS=10 for longer runs)
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import ort from 'onnxruntime-node';
import { MNIST_BINARY_BODY, MNIST_BINARY_HEADERS, MNIST_BODY, MNIST_SAMPLE, cpuMicros } from './bench-support.js';
import { startVigilChild } from './vigil-child.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = [1, 64];

interface Result {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
}

const body = MNIST_BODY;

async function load(opts: { url: string; socketPath?: string; connections: number; headers?: Record<string, string>; binary?: boolean }): Promise<Result> {
  const run = (duration: number) =>
    autocannon({
      url: opts.url,
      socketPath: opts.socketPath,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers, ...(opts.binary ? MNIST_BINARY_HEADERS : {}) },
      body: opts.binary ? MNIST_BINARY_BODY : body,
      connections: opts.connections,
      pipelining: 1,
      duration,
    });
  await run(1); // warm-up: JIT, keep-alive sockets
  const r = await run(SECONDS);
  return { rps: r.requests.average, requests: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

async function inProcess(connections: number): Promise<Result> {
  const session = await ort.InferenceSession.create(await readFile('models/mnist/1/model.onnx'), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const input = Float32Array.from(MNIST_SAMPLE);
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  let count = 0;
  async function loop() {
    while (performance.now() < deadline) {
      const t = performance.now();
      await session.run({ input: new ort.Tensor('float32', input, [1, 784]) });
      latencies.push(performance.now() - t);
      count++;
    }
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, loop));
  const elapsed = (performance.now() - start) / 1000;
  await session.release();
  latencies.sort((x, y) => x - y);
  return { rps: count / elapsed, requests: count, p50: latencies[Math.floor(latencies.length * 0.5)], p99: latencies[Math.floor(latencies.length * 0.99)], errors: 0 };
}

/** Runs `fn` and reports the CPU each process spent per request it served. */
async function withCpu(pids: Record<string, number>, fn: () => Promise<Result>): Promise<Result & { cpu: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMicros(pid)]));
  const result = await fn();
  // autocannon's warm-up second is included in the CPU figures: count its requests too (≈ rps × 1 s).
  const served = result.requests + result.rps;
  const cpu = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, (cpuMicros(pid) - before[k]) / served]));
  return { ...result, cpu };
}

const fmt = (r: Result & { cpu?: Record<string, number> }) =>
  `${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(6)} ms` +
  (r.cpu ? `  CPU/request: ${Object.entries(r.cpu).map(([k, v]) => `${k} ${v.toFixed(0)} µs`).join(', ')}` : '') +
  (r.errors ? `  ERRORS ${r.errors}` : '');

async function startBareProxy(socketPath: string, script = './bare-proxy.js') {
  const child = spawn(process.execPath, [new URL(script, import.meta.url).pathname, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => createInterface({ input: child.stdout! }).once('line', (l) => resolve(Number(l))));
  return { child, port };
}

const gateway = await startVigilChild();
const socketPath = gateway.poolSocket;
const bare = await startBareProxy(socketPath);
const bareUndici = await startBareProxy(socketPath, './bare-undici-proxy.js');
const rows: string[] = [];
const ratios: string[] = [];
try {
  for (const c of CONCURRENCY) {
    const pids = { pool: gateway.poolPid, 'load generator': process.pid };
    const a = await withCpu(pids, () => load({ url: 'http://pool/v2/models/mnist/versions/1/infer', socketPath, connections: c }));
    const b = await withCpu({ gateway: gateway.child.pid!, ...pids }, () => load({ url: `http://127.0.0.1:${gateway.port}/v2/models/mnist/infer`, connections: c, headers: gateway.auth }));
    const inproc = await inProcess(c);
    const d = await withCpu({ 'bare proxy': bare.child.pid!, ...pids }, () => load({ url: `http://127.0.0.1:${bare.port}/`, connections: c }));
    const e = await withCpu({ 'bare proxy': bareUndici.child.pid!, ...pids }, () => load({ url: `http://127.0.0.1:${bareUndici.port}/`, connections: c }));
    const aBin = await withCpu(pids, () => load({ url: 'http://pool/v2/models/mnist/versions/1/infer', socketPath, connections: c, binary: true }));
    const bBin = await withCpu({ gateway: gateway.child.pid!, ...pids }, () => load({ url: `http://127.0.0.1:${gateway.port}/v2/models/mnist/infer`, connections: c, headers: gateway.auth, binary: true }));
    // JSON once more, after binary: the gateway's cost drifts as it warms up, so the binary row is
    // compared with the JSON runs on either side of it.
    const bAgain = await withCpu({ gateway: gateway.child.pid!, ...pids }, () => load({ url: `http://127.0.0.1:${gateway.port}/v2/models/mnist/infer`, connections: c, headers: gateway.auth }));
    const jsonRps = (b.rps + bAgain.rps) / 2;
    const jsonCpu = (b.cpu.gateway + bAgain.cpu.gateway) / 2;
    const at = `c=${String(c).padEnd(3)}`;
    rows.push(`${at} (a) pool direct     ${fmt(a)}`, `${at} (b) through gateway ${fmt(b)}`, `${at} (c) ORT in-process  ${fmt(inproc)}`, `${at} (d) bare hpm hop    ${fmt(d)}`, `${at} (e) bare undici hop ${fmt(e)}`);
    rows.push(`${at} (a) binary, direct  ${fmt(aBin)}`, `${at} (b) binary, gateway ${fmt(bBin)}`, `${at} (b) JSON again      ${fmt(bAgain)}`);
    ratios.push(`${at} b/a = ${(b.rps / a.rps).toFixed(2)}   b/c = ${(b.rps / inproc.rps).toFixed(3)}   d/a = ${(d.rps / a.rps).toFixed(2)}   e/a = ${(e.rps / a.rps).toFixed(2)}   b/d = ${(b.rps / d.rps).toFixed(2)}`);
    ratios.push(`${at} binary: b/a = ${(bBin.rps / aBin.rps).toFixed(2)}   b(binary)/b(JSON, both runs) = ${(bBin.rps / jsonRps).toFixed(2)}   gateway CPU binary/JSON = ${(bBin.cpu.gateway / jsonCpu).toFixed(2)} (${bBin.cpu.gateway.toFixed(0)} / ${jsonCpu.toFixed(0)} µs)`);
  }
  console.log(`\nmnist, batch 1, ${SECONDS} s per run, node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`);
  for (const r of rows) console.log(r);
  console.log('');
  for (const r of ratios) console.log(r);
  console.log(`\ngateway peak RSS: ${gateway.peakRssMb().toFixed(0)} MB (VmHWM of the gateway process, pools excluded)`);
} finally {
  bare.child.kill('SIGTERM');
  bareUndici.child.kill('SIGTERM');
  await gateway.stop();
}
