// Score-based black-box attack for the detector evaluation: SimBA (Guo et al. 2019, "Simple
// Black-box Adversarial Attacks") in the pixel basis, under an L∞ budget. It only sees the class
// probabilities an oracle returns, as a client of the gateway's public endpoint does.
import { argmax } from '../../train/mlp.js';
import { mulberry32 } from '../../train/prng.js';
import { shuffleInPlace } from '../../train/split.js';
import { projectF32, type Bounds } from './white-box.js';

/** Class probabilities for each row, in order: one call is one request to the model. */
export type Oracle = (rows: Float32Array[]) => Promise<ArrayLike<number>[]>;

export interface SimbaOptions {
  /** L∞ budget: each pixel moves by at most eps, once. */
  eps: number;
  /** Budget in rows sent to the oracle. */
  maxQueries: number;
  /** Pixels tried per oracle call, each with its +eps and -eps candidate: fewer, larger requests. */
  pixelsPerCall: number;
  /** Seeds the random pixel order. */
  seed: number;
}

export interface SimbaResult {
  adv: Float32Array;
  /** The oracle's argmax on adv differs from the true label. */
  success: boolean;
  predicted: number;
  /** Rows sent to the oracle. */
  queries: number;
  /** Oracle calls made. */
  calls: number;
}

interface Step {
  adv: Float32Array;
  probs: ArrayLike<number>;
}

/**
 * SimBA with batched queries. Each call holds the +eps/-eps candidates of several pixels around
 * the current input; every candidate lowering p_true is kept. As several kept pixels combine
 * untested, the combination becomes the next base only once the next call (which carries it as
 * its first row) confirms it beats the best single candidate; meanwhile that candidate, already
 * scored, is the fallback. So the result and its success are always the oracle's own word.
 */
export async function simba(query: Oracle, x: ArrayLike<number>, label: number, options: SimbaOptions, bounds: Bounds): Promise<SimbaResult> {
  const { eps, maxQueries, pixelsPerCall } = options;
  const { lo, hi } = bounds;
  const order = shuffleInPlace(Array.from(x, (_, i) => i), mulberry32(options.seed));
  let queries = 0;
  let calls = 0;
  const ask = (rows: Float32Array[]) => {
    queries += rows.length;
    calls++;
    return query(rows);
  };

  const start = Float32Array.from(x, (v, i) => projectF32(v, v, Infinity, lo[i], hi[i]));
  let cur: Step = { adv: start, probs: (await ask([start]))[0] };
  let pending: Float32Array | undefined;
  let pos = 0;
  while (argmax(cur.probs) === label && queries < maxQueries) {
    const base = pending ?? cur.adv;
    const rows = pending ? [pending] : [];
    const first = rows.length;
    const pixels: number[] = []; // the pixel each candidate row moves
    let next = pos;
    for (let tried = 0; next < order.length && tried < pixelsPerCall; next++) {
      const i = order[next];
      const cands = [x[i] + eps, x[i] - eps]
        .map((v) => projectF32(v, x[i], eps, lo[i], hi[i]))
        .filter((v) => v !== base[i]);
      if (rows.length + cands.length > maxQueries - queries) break;
      for (const v of cands) {
        const row = base.slice();
        row[i] = v;
        rows.push(row);
        pixels.push(i);
      }
      if (cands.length > 0) tried++;
    }
    if (rows.length === 0) break; // pixels or budget exhausted
    const out = await ask(rows);

    if (pending) {
      const accepted = out[0][label] < cur.probs[label];
      if (accepted) cur = { adv: pending, probs: out[0] };
      pending = undefined;
      // Rejected: this call's candidates moved the rejected combination; retry them around cur.
      if (!accepted || argmax(cur.probs) !== label) continue;
    }
    pos = next;

    const kept = new Map<number, number>(); // pixel -> its better improving candidate row
    let bestRow = -1;
    for (let r = first; r < rows.length; r++) {
      const p = out[r][label];
      if (argmax(out[r]) !== label) {
        bestRow = r; // already adversarial: done
        kept.clear();
        break;
      }
      if (p >= cur.probs[label]) continue;
      const prev = kept.get(pixels[r - first]);
      if (prev === undefined || p < out[prev][label]) kept.set(pixels[r - first], r);
      if (bestRow < 0 || p < out[bestRow][label]) bestRow = r;
    }
    if (bestRow < 0) continue;
    if (kept.size > 1) {
      pending = base.slice();
      for (const [i, r] of kept) pending[i] = rows[r][i];
    }
    cur = { adv: rows[bestRow], probs: out[bestRow] };
  }
  const predicted = argmax(cur.probs);
  return { adv: cur.adv, success: predicted !== label, predicted, queries, calls };
}
