import type { SqueezerName } from './squeezers.js';
import type { Rng } from './squeeze-rng.js';
import { squeeze, type SqueezeGeometry } from './squeezers.js';

/** L1 distance between two probability vectors (0 … 2). */
export function l1(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let k = 0; k < a.length; k++) d += Math.abs(a[k] - b[k]);
  return d;
}

/**
 * The batch the model runs for n rows and k squeezers: the n rows as sent, then each row's k
 * squeezed copies (row-major: row r's copy j at n + r·k + j). One run serves the answer and the
 * score, so screening costs one larger batch rather than k more round trips. With `rngFor`, each
 * row's copies are squeezed by the randomised variants, drawn from the generator it gives for that row.
 */
export function squeezedBatch(rows: Float32Array[], squeezers: readonly SqueezerName[], geo: SqueezeGeometry, rngFor?: (row: Float32Array) => Rng): Float32Array[] {
  const out = rows.slice();
  for (const row of rows) {
    const rng = rngFor?.(row);
    for (const s of squeezers) out.push(squeeze(s, row, geo, rng));
  }
  return out;
}

/**
 * Per row: the largest L1 distance between the model's probabilities on the row and on each of
 * its squeezed copies (the joint detector of Xu et al.), and which squeezer gave it.
 */
export function squeezeScores(probs: ArrayLike<number>[], rows: number, squeezers: readonly SqueezerName[]): { score: number; by: SqueezerName }[] {
  const k = squeezers.length;
  const scores: { score: number; by: SqueezerName }[] = [];
  for (let r = 0; r < rows; r++) {
    let best = { score: -1, by: squeezers[0] };
    for (let j = 0; j < k; j++) {
      // NaN (non-finite probabilities from a broken or hostile server) scores as the largest
      // possible distance: a detector fails closed, never reads garbage as clean.
      const raw = l1(probs[r], probs[rows + r * k + j]);
      const d = Number.isNaN(raw) ? 2 : raw;
      if (d > best.score) best = { score: d, by: squeezers[j] };
    }
    scores.push(best);
  }
  return scores;
}
