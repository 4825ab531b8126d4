import { loadMnist } from '../train/datasets.js';
import { argmax, forward, trainMlp, type MlpWeights } from '../train/mlp.js';
import { mulberry32 } from '../train/prng.js';
import { stratifiedSplit } from '../train/split.js';
import type { Heldout, OfflineScorer } from '../calibration/offline-scorer.js';
import { adaptiveAttack, type AdaptiveOptions, type ProfileModel } from './attacks/adaptive.js';
import type { Thresholds } from './white-box-eval.js';

export interface AdaptiveRow {
  attack: string;
  /** Which squeezers scored the attack's inputs: the fixed ones, or a fresh secret draw of the randomised ones. */
  squeezers: 'fixed' | 'randomised';
  attacked: number;
  /** Inputs that fooled the served model (ONNX Runtime), and how many of those neither detector flagged. */
  successes: number;
  evaded: number;
  /** Flagged share of the successes. */
  detection: number;
  /** Median L2 norm of the successful perturbations (pixels in [0, 1]). */
  medianL2: number;
}

export interface AdaptiveSettings {
  samples: number;
  steps: number;
  /** EOT draws per step against randomised squeezers. */
  draws: number;
  /** Real digits the stolen model is trained on (labelled by the served model's answers). */
  stolenQueries: number;
}

/**
 * The adaptive attacker the detectors are weakest against (BPDA through the squeezers, profile
 * constrained) in four settings: against the fixed squeezers vigil used to run; against the
 * randomised ones, assuming them fixed; with EOT over the randomised ones; and crafted on a
 * stolen copy of the model, then sent to the real one. Plus the minimal perturbation that fools
 * the model when nothing screens it, as the yardstick for L2.
 */
export async function adaptiveEval(
  weights: MlpWeights,
  heldout: Heldout,
  evaluation: number[],
  scorer: OfflineScorer,
  thresholds: { fixed: Thresholds; randomised: Thresholds },
  s: AdaptiveSettings,
): Promise<{ rows: AdaptiveRow[]; stolenAgreement: number }> {
  const squeeze = scorer.spec;
  if (!squeeze.image || squeeze.squeezers.length === 0) throw new Error('the adaptive evaluation needs an image model with squeezers');
  const start = evaluation.filter((i) => argmax(forward(weights, heldout.inputs[i])) === heldout.labels[i]).slice(0, s.samples);
  const profile = profileModel(scorer);
  const base = { squeezers: squeeze.squeezers, image: squeeze.image, steps: s.steps, margin: 0.9, profile };

  async function run(attack: string, model: MlpWeights, scored: AdaptiveRow['squeezers'], o: Pick<AdaptiveOptions, 'randomized' | 'draws' | 'thresholds'>): Promise<AdaptiveRow> {
    const rng = mulberry32(20261204);
    const found: { adv: Float32Array; label: number; l2: number }[] = [];
    for (const i of start) {
      const r = adaptiveAttack(model, heldout.inputs[i], heldout.labels[i], { ...base, ...o, rng });
      if (r.adv) found.push({ adv: r.adv, label: heldout.labels[i], l2: r.l2 });
    }
    const t = thresholds[scored];
    const scores = await scorer.score(found.map((f) => f.adv), scored === 'randomised');
    const fooled = found.filter((f, k) => scores[k].predicted !== f.label);
    const evaded = scores.filter((sc, k) => sc.predicted !== found[k].label && sc.profile <= t.profile && sc.squeeze <= t.squeeze).length;
    const l2 = fooled.map((f) => f.l2).sort((a, b) => a - b);
    return { attack, squeezers: scored, attacked: start.length, successes: fooled.length, evaded, detection: fooled.length ? 1 - evaded / fooled.length : NaN, medianL2: l2.length ? l2[l2.length >> 1] : NaN };
  }

  const none = { profile: Infinity, squeeze: Infinity };
  const stolen = stealModel(weights, s.stolenQueries);
  const stolenAgreement = agreement(weights, stolen, evaluation.map((i) => heldout.inputs[i]));
  const rows = [
    await run('minimal perturbation, detectors ignored', weights, 'randomised', { randomized: false, draws: 1, thresholds: none }),
    await run('BPDA, profile-constrained, vs fixed squeezers (vigil before randomising)', weights, 'fixed', { randomized: false, draws: 1, thresholds: thresholds.fixed }),
    await run('BPDA, profile-constrained, assuming fixed squeezers', weights, 'randomised', { randomized: false, draws: 1, thresholds: thresholds.randomised }),
    await run(`BPDA + EOT (${s.draws} draws per step), profile-constrained`, weights, 'randomised', { randomized: true, draws: s.draws, thresholds: thresholds.randomised }),
    await run(`transfer: BPDA crafted on a stolen model (${s.stolenQueries.toLocaleString('en')} digits)`, stolen, 'fixed', { randomized: false, draws: 1, thresholds: thresholds.fixed }),
    await run(`transfer: BPDA + EOT crafted on a stolen model (${s.stolenQueries.toLocaleString('en')} digits)`, stolen, 'randomised', { randomized: true, draws: s.draws, thresholds: thresholds.randomised }),
  ];
  return { rows, stolenAgreement };
}

/** The profile detector as the attacker models it: the same formula and floor as the gateway's. */
function profileModel(scorer: OfflineScorer): ProfileModel {
  const cfg = scorer.config.detectors.profile;
  const [lo, hi] = scorer.spec.range;
  const floor = (cfg?.std_floor ?? 0.05) * (hi - lo);
  return { mean: scorer.profile.mean, invVar: scorer.profile.std.map((sd) => 1 / Math.max(sd, floor) ** 2), cap: cfg?.z2_cap ?? 256 };
}

/**
 * A knockoff copy of the served model: another MLP trained on real digits the attacker labels by
 * querying vigil. The digits come from the MNIST subset's training split (the only other MNIST
 * digits here), so the copy's data is, if anything, kinder to the attacker than a real one's.
 */
export function stealModel(victim: MlpWeights, queries: number): MlpWeights {
  return trainStolen(victim, attackerDigits(0, queries));
}

/** Real digits an attacker may own: rows of the MNIST subset's training split, from `from`. */
export function attackerDigits(from: number, n: number): Float32Array[] {
  const data = loadMnist();
  const { train } = stratifiedSplit(data.labels, 2000, mulberry32(20240501));
  return train.slice(from, from + n).map((r) => data.inputs.subarray(r * data.features, (r + 1) * data.features)).map((x) => Float32Array.from(x));
}

/** The attacker's copy: an MLP trained on its queries, labelled with the served model's answers. */
export function trainStolen(victim: MlpWeights, queries: readonly Float32Array[]): MlpWeights {
  const features = victim.inputs;
  const inputs = new Float64Array(queries.length * features);
  const labels = new Uint8Array(queries.length);
  queries.forEach((x, i) => {
    inputs.set(x, i * features);
    labels[i] = argmax(forward(victim, x));
  });
  return trainMlp(
    { features, inputs, labels, rows: queries.map((_, i) => i) },
    { hidden: 128, classes: 10, inputScale: 1, epochs: 15, batchSize: 32, learningRate: 1e-3, learningRateDecay: 0.9, seed: 666 },
  );
}

/** How often the copy's answer matches the served model's on inputs neither trained on. */
export function agreement(victim: MlpWeights, copy: MlpWeights, inputs: readonly ArrayLike<number>[]): number {
  return inputs.filter((x) => argmax(forward(copy, x)) === argmax(forward(victim, x))).length / inputs.length;
}
