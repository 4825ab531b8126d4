import type { MlpWeights } from '../train/mlp.js';
import { argmax, forward } from '../train/mlp.js';
import { rocAuc } from '../calibration/calibration.js';
import type { Heldout, OfflineScorer, RowScores } from '../calibration/offline-scorer.js';
import { bim, fgsm, pixelBounds, profileBounds, sparseL0, type AttackResult } from './attacks/white-box.js';

export interface Thresholds {
  profile: number;
  squeeze: number;
}

export interface DetectionRow {
  attack: string;
  /** Clean inputs attacked, and how many the attack fooled (only those are scored). */
  attacked: number;
  successes: number;
  detection: { profile: number; squeeze: number; combined: number };
  auc: { profile: number; squeeze: number; combined: number };
}

export const flagged = (s: RowScores, t: Thresholds) => s.profile > t.profile || s.squeeze > t.squeeze;
/** One score for the two detectors together: how far past its own threshold the worse one is. */
export const combinedScore = (s: RowScores, t: Thresholds) => Math.max(s.profile / t.profile, s.squeeze / t.squeeze);

/** Detection figures of some successful adversarial examples, against clean evaluation inputs. */
export function detectionRow(attack: string, attacked: number, adv: RowScores[], clean: RowScores[], t: Thresholds): DetectionRow {
  const rate = (f: (s: RowScores) => boolean) => (adv.length ? adv.filter(f).length / adv.length : NaN);
  return {
    attack,
    attacked,
    successes: adv.length,
    detection: { profile: rate((s) => s.profile > t.profile), squeeze: rate((s) => s.squeeze > t.squeeze), combined: rate((s) => flagged(s, t)) },
    auc: {
      profile: rocAuc(clean.map((s) => s.profile), adv.map((s) => s.profile)),
      squeeze: rocAuc(clean.map((s) => s.squeeze), adv.map((s) => s.squeeze)),
      combined: rocAuc(clean.map((s) => combinedScore(s, t)), adv.map((s) => combinedScore(s, t))),
    },
  };
}

/**
 * The white-box attacks of the evaluation, with gradients from the shipped weights: FGSM and BIM
 * at ε 0.1 and 0.3, a sparse L0 attack, and BIM clamped to the training profile's per-feature
 * ranges. Each starts from correctly classified inputs of the held-out half calibration never saw.
 */
export async function whiteBoxEval(weights: MlpWeights, heldout: Heldout, evaluation: number[], scorer: OfflineScorer, clean: RowScores[], t: Thresholds, samples: number): Promise<DetectionRow[]> {
  const start = evaluation.filter((i) => argmax(forward(weights, heldout.inputs[i])) === heldout.labels[i]).slice(0, samples);
  const pixels = pixelBounds(heldout.features);
  const profile = profileBounds(scorer.profile);
  const attacks: [string, (x: number[], y: number) => AttackResult][] = [
    ['FGSM ε=0.1', (x, y) => fgsm(weights, x, y, 0.1, pixels)],
    ['FGSM ε=0.3', (x, y) => fgsm(weights, x, y, 0.3, pixels)],
    ['BIM ε=0.1 (10 steps)', (x, y) => bim(weights, x, y, 0.1, { steps: 10, alpha: 0.025 }, pixels)],
    ['BIM ε=0.3 (10 steps)', (x, y) => bim(weights, x, y, 0.3, { steps: 10, alpha: 0.075 }, pixels)],
    ['L0 sparse (≤ 40 pixels)', (x, y) => sparseL0(weights, x, y, { maxPixels: 40 }, pixels)],
    ['BIM ε=0.3 clamped to profile ranges', (x, y) => bim(weights, x, y, 0.3, { steps: 10, alpha: 0.075 }, profile)],
    ['BIM ε=0.1 clamped to profile ranges', (x, y) => bim(weights, x, y, 0.1, { steps: 10, alpha: 0.025 }, profile)],
  ];
  const rows: DetectionRow[] = [];
  for (const [name, attack] of attacks) {
    const adv = start.map((i) => attack(heldout.inputs[i], heldout.labels[i])).filter((r) => r.success).map((r) => r.adv);
    rows.push(detectionRow(name, start.length, await scorer.score(adv), clean, t));
  }
  return rows;
}
