import type { SqueezerName } from './squeezers.js';
import { round } from '../finding.js';
import { squeezedBatch, squeezeScores } from './squeeze-score.js';
import { createHmac } from 'node:crypto';
import { secretRng, seededRng, type Rng } from './squeeze-rng.js';

/** What a pool worker needs to screen in the same run as the inference (part of its WorkerSpec). */
export interface PoolScreenSpec {
  features: number;
  /** Empty: no squeezing, only the predictions the extraction detector needs. */
  squeezers: SqueezerName[];
  range: [number, number];
  image?: [number, number];
  /** Squeeze with secret draws of the randomised squeezers (model.yaml `randomize`). */
  randomize?: boolean;
  /**
   * The secret the draws are keyed with (hex; made by the gateway at start): each row's draws come
   * from HMAC(secret, row quantised), so the same row always gets the same squeezes (resending an
   * input until a lucky draw lets it pass gains nothing) and no one without the secret can know them.
   */
  secret?: string;
  /** The output holding class probabilities. */
  probabilities: string;
}

/** What the pool reports per request row, in SCREEN_HEADER, for the gateway's detectors. */
export interface PoolScreenReport {
  /** Squeeze score per row (absent without squeezers), and the squeezer that gave it. */
  squeeze?: number[];
  by?: SqueezerName[];
  /** Predicted class and its probability, per row. */
  top: number[];
  conf: number[];
}

/** Pool → gateway only; the gateway never forwards it to clients. */
export const SCREEN_HEADER = 'x-vigil-screen';

/**
 * The rows the model runs for one request: the request's, then their squeezed copies. Randomised
 * squeezing draws per row from its keyed digest (`secret`), or without one from the CSPRNG; `rng`
 * is for calibration and the evaluation, which must be reproducible.
 */
export function poolScreenRows(rows: Float32Array[], spec: PoolScreenSpec, rng?: Rng): Float32Array[] {
  if (spec.squeezers.length === 0) return rows;
  if (!spec.randomize) return squeezedBatch(rows, spec.squeezers, spec);
  if (rng) return squeezedBatch(rows, spec.squeezers, spec, () => rng);
  const key = spec.secret ? Buffer.from(spec.secret, 'hex') : undefined;
  return squeezedBatch(rows, spec.squeezers, spec, key ? (row) => rowRng(key, row, spec.range) : () => secretRng());
}

/**
 * The generator of one row's draws: seeded with the first 128 bits of HMAC-SHA256(secret, row
 * quantised to 256 levels over its range). Quantised, so -0 for 0 or a nudge of one float32 step
 * gets the same draws; a change of a level or more gets new ones (the README says what that buys).
 */
function rowRng(key: Buffer, row: Float32Array, [lo, hi]: readonly [number, number]): Rng {
  const scale = 255 / (hi - lo);
  const q = Uint8Array.from(row, (v) => Math.min(255, Math.max(0, Math.round((v - lo) * scale))));
  const digest = createHmac('sha256', key).update(q).digest();
  return seededRng([digest.readUInt32LE(0), digest.readUInt32LE(4), digest.readUInt32LE(8), digest.readUInt32LE(12)]);
}

/** Turns the probabilities of the whole run (rows, then squeezed copies) into the report. */
export function poolScreenReport(probs: Float32Array[], rows: number, spec: PoolScreenSpec): PoolScreenReport {
  const top: number[] = [];
  const conf: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < probs[r].length; k++) if (probs[r][k] > probs[r][best]) best = k;
    top.push(best);
    conf.push(round(probs[r][best]));
  }
  if (spec.squeezers.length === 0) return { top, conf };
  const scores = squeezeScores(probs, rows, spec.squeezers);
  return { squeeze: scores.map((s) => round(s.score)), by: scores.map((s) => s.by), top, conf };
}
