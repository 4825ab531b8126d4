// What every benchmark here shares: the mnist request it sends and how it reads a process's CPU.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { procStats } from '../gateway/src/telemetry/proc-stats.js';

const heldout = JSON.parse(gunzipSync(readFileSync('models/mnist/1/heldout.json.gz')).toString()) as { inputs: number[][] };
/** One held-out mnist digit. */
export const MNIST_SAMPLE = heldout.inputs[0];
/** An OIP inference request for it, batch 1. */
export const MNIST_BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: MNIST_SAMPLE }] });

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
