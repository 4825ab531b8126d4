// The adaptive white-box attack on profile + feature squeezing (Athalye, Carlini and Wagner's
// BPDA, as Carlini and Wagner applied it to squeezing): the raw row and each squeezed copy are
// driven to the same wrong class, so the squeezed answers agree and the squeeze score stays low,
// while a penalty keeps the profile score under its threshold. Gradients pass straight through
// bit-depth reduction and exactly through medians (to the pixel each median picked). Against
// randomised squeezers the attacker averages over draws of its own (expectation over
// transformation, EOT). The step rule is DDN (Rony et al. 2019): a normalised gradient step, then
// the perturbation is scaled to a radius that shrinks while the attack holds and grows while not,
// so the smallest L2 that evades is found.
import { argmax, type MlpWeights } from '../../train/mlp.js';
import type { Rng } from '../../train/prng.js';
import { reduceBitDepth, type SqueezerName } from '../../../detectors/src/squeeze/squeezers.js';
import { l1 } from '../../../detectors/src/squeeze/squeeze-score.js';
import { inputGradient } from './gradient.js';

/** The profile detector's score and gradient, for the attacker (the same formula as the gateway's). */
export interface ProfileModel {
  mean: ArrayLike<number>;
  invVar: ArrayLike<number>;
  cap: number;
}

export function profileScoreGrad(p: ProfileModel, x: ArrayLike<number>, grad?: Float64Array): number {
  const n = p.mean.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] - p.mean[i];
    const z2 = d * d * p.invVar[i];
    if (z2 < p.cap) {
      sum += z2;
      if (grad) grad[i] = (2 * d * p.invVar[i]) / n;
    } else {
      sum += p.cap;
      if (grad) grad[i] = 0;
    }
  }
  return sum / n;
}

export interface AdaptiveOptions {
  squeezers: readonly SqueezerName[];
  image: readonly [number, number];
  /** The squeezers the attacker aims at: the fixed ones, or random draws of the randomised ones (EOT). */
  randomized: boolean;
  /** Draws of the squeezers per step (EOT); 1 for fixed squeezers. */
  draws: number;
  steps: number;
  /** The detectors' thresholds, known to the attacker; it aims below margin × each. */
  thresholds: { profile: number; squeeze: number };
  margin: number;
  profile: ProfileModel;
  rng: Rng;
}

export interface AdaptiveResult {
  /** The smallest-L2 input the attacker believed fooled the model unseen; null when none did. */
  adv: Float32Array | null;
  l2: number;
}

interface Copy {
  x: Float32Array;
  /** Which input pixel each value came from (median); null: the identity or straight through (bit depth). */
  src: Int32Array | null;
}

/** A squeezed copy with its gradient map: the runtime's values, the attacker's backward pass. */
export function squeezeCopy(name: SqueezerName, x: Float32Array, image: readonly [number, number], rng?: Rng): Copy {
  if (name.startsWith('bit_depth_')) return { x: reduceBitDepth(x, Number(name.slice('bit_depth_'.length)), [0, 1], rng), src: null };
  return medianWithSource(x, image, name === 'median_2x2' ? 2 : 3, rng);
}

/**
 * Median smoothing that also says which pixel each median is: by sorting each window, the
 * definition the runtime's selection networks are tested against (same reflection, anchors and
 * rank, and the same order of random draws).
 */
function medianWithSource(x: Float32Array, [h, w]: readonly [number, number], size: number, rng?: Rng): Copy {
  const out = new Float32Array(x.length);
  const src = new Int32Array(x.length);
  const reflect = (i: number, n: number) => (i < 0 ? -i - 1 : i >= n ? 2 * n - 1 - i : i);
  const before = Math.floor(size / 2);
  const idx: number[] = new Array(size * size);
  const random = rng && size % 2 === 0;
  const ay = random ? size - 1 - Math.floor(rng() * size) : before;
  const ax = random ? size - 1 - Math.floor(rng() * size) : before;
  for (let y = 0; y < h; y++) {
    for (let c = 0; c < w; c++) {
      let n = 0;
      for (let dy = 0; dy < size; dy++) for (let dx = 0; dx < size; dx++) idx[n++] = reflect(y - ay + dy, h) * w + reflect(c - ax + dx, w);
      idx.sort((a, b) => x[a] - x[b]);
      const pick = idx[Math.floor((size * size) / 2)];
      out[y * w + c] = x[pick];
      src[y * w + c] = pick;
    }
  }
  return { x: out, src };
}

/**
 * One adaptive attack from a correctly classified input: returns the smallest perturbation (L2)
 * the attacker, by its own checks, believed fooled the model with every detector below threshold.
 */
export function adaptiveAttack(weights: MlpWeights, x0: ArrayLike<number>, label: number, o: AdaptiveOptions): AdaptiveResult {
  const n = x0.length;
  const start = Float32Array.from(x0);
  // Targeted at the runner-up class: the one the raw row and every copy must agree on.
  const p0 = inputGradient(weights, start, label).probs;
  let target = label === 0 ? 1 : 0;
  for (let k = 0; k < p0.length; k++) if (k !== label && p0[k] > p0[target]) target = k;

  const delta = new Float64Array(n);
  const grad = new Float64Array(n);
  const pgrad = new Float64Array(n);
  const x = new Float32Array(n);
  let eps = 1;
  let best: Float32Array | null = null;
  let bestL2 = Infinity;
  const gamma = 0.05;
  for (let step = 0; step < o.steps; step++) {
    for (let i = 0; i < n; i++) x[i] = Math.min(1, Math.max(0, start[i] + delta[i]));
    const copies: Copy[] = [{ x, src: null }];
    for (let d = 0; d < o.draws; d++) for (const s of o.squeezers) copies.push(squeezeCopy(s, x, o.image, o.randomized ? o.rng : undefined));
    grad.fill(0);
    let raw: Float64Array | null = null;
    let worstL1 = 0;
    for (const c of copies) {
      const g = inputGradient(weights, c.x, target);
      if (raw === null) raw = g.probs;
      else worstL1 = Math.max(worstL1, l1(raw, g.probs));
      const weight = 1 / copies.length;
      if (c.src) for (let i = 0; i < n; i++) grad[c.src[i]] += weight * g.grad[i];
      else for (let i = 0; i < n; i++) grad[i] += weight * g.grad[i];
    }
    const profile = profileScoreGrad(o.profile, x, pgrad);
    const fooled = argmax(raw!) !== label;
    const unseen = worstL1 < o.margin * o.thresholds.squeeze && profile < o.margin * o.thresholds.profile;
    const l2 = dist(x, start);
    if (fooled && unseen) {
      if (l2 < bestL2) {
        bestL2 = l2;
        best = Float32Array.from(x);
      }
      eps *= 1 - gamma;
    } else eps *= 1 + gamma;
    // Over the profile's (margin-scaled) threshold, its gradient joins the loss's, scaled to match.
    if (profile > 0.9 * o.margin * o.thresholds.profile) {
      const scale = norm(grad) / (norm(pgrad) || 1);
      for (let i = 0; i < n; i++) grad[i] += scale * pgrad[i];
    }
    const alpha = 0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * step) / o.steps)); // cosine annealing, 1 → 0.05
    const g = norm(grad) || 1;
    for (let i = 0; i < n; i++) delta[i] -= (alpha * grad[i]) / g;
    const d = norm(delta) || 1;
    for (let i = 0; i < n; i++) delta[i] = Math.min(1, Math.max(0, start[i] + (eps * delta[i]) / d)) - start[i];
  }
  return { adv: best, l2: bestL2 };
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

export function dist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}
