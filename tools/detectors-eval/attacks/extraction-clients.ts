// Synthetic extraction attackers for the evaluation and the extraction detector's tests: each is
// a stream of queries to an oracle (the served model's predicted class).
import { mulberry32, randomInt, type Rng } from '../../train/prng.js';

/** The oracle: the served model's predicted class for one query. */
export type LabelOracle = (x: Float32Array) => number;

export function normal(rng: Rng): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Random synthetic queries, uniform in [0,1]^features (Tramèr et al.'s random queries). */
export function uniformAttacker(seed: number, features: number): () => Float32Array {
  const rng = mulberry32(seed);
  return () => Float32Array.from({ length: features }, () => rng());
}

/** A noise prober: one real input plus small Gaussian noise, again and again. */
export function noiseProber(seed: number, base: ArrayLike<number>, sigma = 0.05): () => Float32Array {
  const rng = mulberry32(seed);
  return () => Float32Array.from(base, (v) => clamp01(v + sigma * normal(rng)));
}

// Papernot et al.'s Jacobian-based augmentation: S_{r+1} = S_r ∪ {x + λ·sign(∇_x F_y(x))}, with F a
// substitute (here softmax regression) retrained each round on the oracle's labels so far.
export function jacobianAttacker(seed: number, seeds: readonly (readonly number[])[], oracle: LabelOracle, lambda = 0.1): () => Float32Array {
  const rng = mulberry32(seed);
  const seen = new Set<number>();
  let pending: Float32Array[] = [];
  while (pending.length < 10) {
    const i = randomInt(rng, seeds.length);
    if (!seen.has(i)) {
      seen.add(i);
      pending.push(Float32Array.from(seeds[i]));
    }
  }
  const sent: Float32Array[] = [];
  const labels: number[] = [];
  return () => {
    if (pending.length === 0) {
      const sub = trainSoftmax(sent, labels, rng);
      pending = sent.map((x, n) => {
        // ∂p_y/∂x_i = p_y (W_iy − Σ_k p_k W_ik); only its sign matters.
        const p = softmaxProbs(sub, x);
        return Float32Array.from(x, (v, i) => {
          let g = sub.w[i * 10 + labels[n]];
          for (let k = 0; k < 10; k++) g -= p[k] * sub.w[i * 10 + k];
          return clamp01(v + lambda * Math.sign(g));
        });
      });
    }
    const x = pending.shift()!;
    sent.push(x);
    labels.push(oracle(x));
    return x;
  };
}

interface Softmax {
  w: Float64Array;
  b: Float64Array;
}

function softmaxProbs(m: Softmax, x: Float32Array): Float64Array {
  const z = Float64Array.from(m.b);
  for (let i = 0; i < x.length; i++) {
    if (x[i] === 0) continue;
    for (let k = 0; k < 10; k++) z[k] += x[i] * m.w[i * 10 + k];
  }
  const max = Math.max(...z);
  let sum = 0;
  for (let k = 0; k < 10; k++) sum += z[k] = Math.exp(z[k] - max);
  for (let k = 0; k < 10; k++) z[k] /= sum;
  return z;
}

function trainSoftmax(xs: Float32Array[], ys: number[], rng: Rng): Softmax {
  const features = xs[0].length;
  const m = { w: new Float64Array(features * 10), b: new Float64Array(10) };
  const order = xs.map((_, i) => i);
  for (let epoch = 0; epoch < 10; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = randomInt(rng, i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const n of order) {
      const p = softmaxProbs(m, xs[n]);
      p[ys[n]] -= 1;
      for (let k = 0; k < 10; k++) {
        const g = 0.5 * p[k];
        m.b[k] -= g;
        for (let i = 0; i < features; i++) if (xs[n][i] !== 0) m.w[i * 10 + k] -= g * xs[n][i];
      }
    }
  }
  return m;
}

