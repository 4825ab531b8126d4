import type { DetectorConfig } from './detector-config.js';
import { finding, type Finding, type ScreenBatch } from './finding.js';

/** A model's training profile (profile.json beside model.onnx): per-feature statistics. */
export interface TrainingProfile {
  features: number;
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
}

type ProfileConfig = NonNullable<DetectorConfig['profile']>;

/**
 * Profile / out-of-distribution screening: how far each feature sits from the training
 * distribution, in squared z-scores (each under a std floor and capped), averaged over the
 * features into one score per row. Dense perturbations (FGSM-like ±ε on every pixel) and noise
 * probes move hundreds of features that training never moved, so they score far above real
 * inputs; the threshold is a percentile of held-out scores (`vigil detectors calibrate`).
 */
export class ProfileDetector {
  private readonly mean: Float64Array;
  private readonly invVar: Float64Array;

  constructor(
    profile: TrainingProfile,
    private readonly cfg: ProfileConfig,
    /** The input's declared value range: the std floor is a fraction of its width. */
    range: readonly [number, number],
  ) {
    const floor = cfg.std_floor * (range[1] - range[0]);
    this.mean = Float64Array.from(profile.mean);
    this.invVar = Float64Array.from(profile.std, (s) => 1 / Math.max(s, floor) ** 2);
  }

  /** The score of one row: mean over features of min(z², cap). */
  score(row: ArrayLike<number>): number {
    const { mean, invVar } = this;
    const cap = this.cfg.z2_cap;
    let sum = 0;
    // A plain loop over typed arrays: this runs on the gateway for every inference row.
    for (let i = 0; i < mean.length; i++) {
      const d = row[i] - mean[i];
      const z2 = d * d * invVar[i];
      sum += z2 < cap ? z2 : cap;
    }
    return sum / mean.length;
  }

  /** The worst row's finding; without a calibrated threshold the score is recorded, never anomalous. */
  inspect(batch: ScreenBatch): Finding {
    return this.worst(batch.rows.map((row) => this.score(row)));
  }

  /** The finding of the worst of some rows' scores. */
  worst(scores: number[]): Finding {
    let item = 0;
    for (let r = 1; r < scores.length; r++) if (scores[r] > scores[item]) item = r;
    return finding('profile', 'z2_mean', round(scores[item]), this.cfg.threshold ?? null, { item });
  }

  /** Whether one row's score is past the threshold (the extraction detector counts such rows). */
  isAnomalous(score: number): boolean {
    return this.cfg.threshold !== undefined && score > this.cfg.threshold;
  }
}

/** Scores travel in audit records and headers: six significant digits are plenty. */
export function round(x: number): number {
  return Number(x.toPrecision(6));
}
