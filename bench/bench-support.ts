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
