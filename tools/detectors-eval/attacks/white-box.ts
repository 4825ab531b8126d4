// White-box evasion attacks on the serving MLP, for the detector evaluation: FGSM, BIM (L∞) and a
// greedy few-pixel L0 attack. Results are float32, as the gateway's FP32 tensors carry them, and
// stay exactly inside the bounds and the eps-ball after that rounding.
import { argmax, forward, type MlpWeights } from '../../train/mlp.js';
import { inputGradient } from './gradient.js';

/** Per-feature value range an adversarial input must stay in. */
export interface Bounds {
  lo: ArrayLike<number>;
  hi: ArrayLike<number>;
}

export interface AttackResult {
  adv: Float32Array;
  /** The model's argmax on adv differs from the true label. */
  success: boolean;
  predicted: number;
}

/** The model's declared input range, [0, 1] per pixel. */
export function pixelBounds(features: number): Bounds {
  return { lo: new Float64Array(features), hi: new Float64Array(features).fill(1) };
}

/** The training set's per-feature min/max: inputs a per-feature range check cannot flag. */
export function profileBounds(profile: { min: ArrayLike<number>; max: ArrayLike<number> }): Bounds {
  return { lo: profile.min, hi: profile.max };
}

/**
 * The float32 nearest v inside [max(lo, c - eps), min(hi, c + eps)], where c is x clipped into
 * [lo, hi]: the ball is centred on the clipped input so the box is never empty, even when a
 * clean input already lies outside a profile's range.
 */
export function projectF32(v: number, x: number, eps: number, lo: number, hi: number): number {
  const c = Math.min(hi, Math.max(lo, x));
  const boxLo = Math.max(lo, c - eps);
  const boxHi = Math.min(hi, c + eps);
  const f = Math.fround(Math.min(boxHi, Math.max(boxLo, v)));
  // Rounding to float32 can step just outside the box; the neighbouring float32 is inside.
  if (f > boxHi) return stepF32(f, -1);
  if (f < boxLo) return stepF32(f, 1);
  return f;
}

const f32 = new Float32Array(1);
const bits = new Int32Array(f32.buffer);

/** The float32 next to float32 f, towards +Infinity (dir 1) or -Infinity (dir -1). */
function stepF32(f: number, dir: 1 | -1): number {
  if (f === 0) return dir * 2 ** -149;
  f32[0] = f;
  bits[0] += f > 0 ? dir : -dir;
  return f32[0];
}

function result(weights: MlpWeights, adv: Float32Array, label: number): AttackResult {
  const predicted = argmax(forward(weights, adv));
  return { adv, success: predicted !== label, predicted };
}

/** The clean input as float32, clipped into the bounds: where every attack starts. */
function start(x: ArrayLike<number>, bounds: Bounds): Float32Array {
  const adv = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) adv[i] = projectF32(x[i], x[i], Infinity, bounds.lo[i], bounds.hi[i]);
  return adv;
}

/** Fast Gradient Sign Method (Goodfellow et al. 2015): one eps step along the loss gradient's sign. */
export function fgsm(weights: MlpWeights, x: ArrayLike<number>, label: number, eps: number, bounds: Bounds): AttackResult {
  const adv = start(x, bounds);
  const { grad } = inputGradient(weights, adv, label);
  for (let i = 0; i < adv.length; i++) adv[i] = projectF32(adv[i] + eps * Math.sign(grad[i]), x[i], eps, bounds.lo[i], bounds.hi[i]);
  return result(weights, adv, label);
}

export interface BimOptions {
  steps: number;
  /** Step size per iteration. */
  alpha: number;
}

/** Basic Iterative Method (Kurakin et al. 2017): FGSM steps of alpha, projected each step; runs every step. */
export function bim(weights: MlpWeights, x: ArrayLike<number>, label: number, eps: number, options: BimOptions, bounds: Bounds): AttackResult {
  const adv = start(x, bounds);
  for (let s = 0; s < options.steps; s++) {
    const { grad } = inputGradient(weights, adv, label);
    for (let i = 0; i < adv.length; i++) adv[i] = projectF32(adv[i] + options.alpha * Math.sign(grad[i]), x[i], eps, bounds.lo[i], bounds.hi[i]);
  }
  return result(weights, adv, label);
}

export interface SparseOptions {
  /** At most this many pixels change. */
  maxPixels: number;
}

/**
 * Greedy few-pixel attack (JSMA-like, untargeted): each round sets the one untouched pixel with
 * the largest first-order loss gain, |gradient| x room to the bound in the gradient's direction,
 * to that bound; stops as soon as the class flips.
 */
export function sparseL0(weights: MlpWeights, x: ArrayLike<number>, label: number, options: SparseOptions, bounds: Bounds): AttackResult {
  const adv = start(x, bounds);
  const touched = new Uint8Array(adv.length);
  for (let n = 0; n < options.maxPixels; n++) {
    const { probs, grad } = inputGradient(weights, adv, label);
    if (argmax(probs) !== label) break;
    let best = -1;
    let bestGain = 0;
    for (let i = 0; i < adv.length; i++) {
      if (touched[i]) continue;
      const room = grad[i] > 0 ? bounds.hi[i] - adv[i] : adv[i] - bounds.lo[i];
      const gain = Math.abs(grad[i]) * room;
      if (gain > bestGain) {
        best = i;
        bestGain = gain;
      }
    }
    if (best < 0) break; // no pixel can raise the loss
    touched[best] = 1;
    adv[best] = projectF32(grad[best] > 0 ? bounds.hi[best] : bounds.lo[best], x[best], Infinity, bounds.lo[best], bounds.hi[best]);
  }
  return result(weights, adv, label);
}
