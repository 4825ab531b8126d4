// What every benchmark here shares: the mnist request it sends and how it reads a process's CPU.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import { loadOrCreateDevKey, mintDevToken } from '../gateway/src/auth/dev-signing-key.js';
import { procStats } from '../gateway/src/telemetry/proc-stats.js';

const heldout = JSON.parse(gunzipSync(readFileSync('models/mnist/1/heldout.json.gz')).toString()) as { inputs: number[][] };
/** One held-out mnist digit. */
export const MNIST_SAMPLE = heldout.inputs[0];
/** An OIP inference request for it, batch 1. */
export const MNIST_BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: MNIST_SAMPLE }] });

/**
 * The same request as tritonclient.http sends it by default: the JSON header, then the 784 floats
 * as binary tensor data, and every output asked for in binary.
 */
const binaryHeader = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 784 * 4 } }], parameters: { binary_data_output: true } }));
export const MNIST_BINARY_BODY = Buffer.concat([binaryHeader, Buffer.from(Float32Array.from(MNIST_SAMPLE).buffer)]);
export const MNIST_BINARY_HEADERS = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(binaryHeader.length) };

/** CPU time (user + system) a process has used so far, in µs, from /proc. */
export function cpuMicros(pid: number): number {
  const stats = procStats(pid);
  if (!stats) throw new Error(`no /proc/${pid}: the process is gone (or this is not Linux)`);
  return (stats.userSeconds + stats.systemSeconds) * 1e6;
}

const digits = JSON.parse(gunzipSync(readFileSync('models/digits/1/heldout.json.gz')).toString()) as { inputs: number[][] };
/** An OIP inference request for one held-out 8×8 digit, batch 1. */
export const DIGITS_BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: digits.inputs[0] }] });

/** The p-th percentile (0–100) of `xs`, nearest rank; NaN for none. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A policy for benches: `analyst` may infer on both demo models, with quotas out of the load's reach. */
export const CALLERS_POLICY = `version: 1
roles: { analyst: bench }
grants: [{ id: g, roles: [analyst], actions: [infer], models: [digits, mnist] }]
limits: { roles: { analyst: { requests_per_minute: 100000000, items_per_minute: 100000000, concurrency: 1000 } } }
`;

/** `count` analyst tokens, each its own principal (caller-0, caller-1, …), signed by the dev key in `stateDir`. */
export async function callerTokens(stateDir: string, count: number): Promise<string[]> {
  const key = await loadOrCreateDevKey(stateDir);
  return Promise.all(Array.from({ length: count }, (_, i) => mintDevToken(key, { sub: `caller-${i}`, roles: ['analyst'], ttlSeconds: 3600 })));
}

/**
 * Inference load on `model` at `port`, one caller per connection (as many callers would be):
 * a 1 s warm-up, then `seconds` measured, with `cpu()` read around the measured run.
 */
export async function loadOneCallerEach(
  port: number,
  model: string,
  tokens: string[],
  seconds: number,
  cpu: () => number[],
): Promise<{ result: autocannon.Result; cpuMicros: number[] }> {
  let next = 0;
  const run = (duration: number) =>
    autocannon({
      url: `http://127.0.0.1:${port}/v2/models/${model}/infer`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: model === 'mnist' ? MNIST_BODY : DIGITS_BODY,
      connections: tokens.length,
      duration,
      setupClient: (client) => client.setHeaders({ 'content-type': 'application/json', authorization: `Bearer ${tokens[next++ % tokens.length]}` }),
    });
  await run(1);
  const before = cpu();
  const result = await run(seconds);
  return { result, cpuMicros: cpu().map((c, i) => c - before[i]) };
}
