import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { calibrated } from './calibrated.js';
import { defineDetector } from './detector.js';
import { rowsFinding, type Finding, type ScreenBatch } from './finding.js';

/** A model's training profile (profile.json beside model.onnx): per-feature statistics. */
export interface TrainingProfile {
  features: number;
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
}

export const profileConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Floor under each feature's training std, as a fraction of the input's declared range: a constant pixel is not infinitely surprising. */
    std_floor: z.number().positive().default(0.05),
    /** Cap on one feature's squared z-score, so a single odd feature cannot decide alone. */
    z2_cap: z.number().positive().default(256),
    ...calibrated,
  })
  .strict()
  .optional();

export type ProfileConfig = NonNullable<z.output<typeof profileConfigSchema>>;

/** Out-of-distribution screening of each request row, in the gateway, against the training profile beside the model. */
export const profileDetector = defineDetector({
  name: 'profile',
  phase: 'request',
  configSchema: profileConfigSchema,
  refusalCode: 'INPUT_OUT_OF_DISTRIBUTION',
  refusalMessage: "the input is far outside the model's training distribution",
  defaultAction: 'flag',
  async prepare(cfg, model) {
    if (!cfg?.enabled) return null;
    const { features } = model;
    const range = features !== null ? model.ranges.get(model.signature.inputs[0].name) : undefined;
    if (features === null || !range) throw new Error('the profile detector needs one FP32 input of shape [-1, features] with a declared range');
    if (!model.profile) return null;
    const profile = JSON.parse(await readFile(join(model.dir, model.profile), 'utf8')) as TrainingProfile;
    if (profile.features !== features || profile.mean.length !== features) {
      throw new Error(`${model.profile} describes ${profile.features} features; the model's input has ${features}`);
    }
    const detector = new ProfileDetector(profile, cfg, range);
    return {
      inspect({ batch }) {
        if (!batch) return { findings: [] };
        const scores = batch.rows.map((row) => detector.score(row));
        return { findings: [detector.worst(scores, batch.unique)], flaggedRows: scores.map((s) => detector.isAnomalous(s)) };
      },
    };
  },
});

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

  /** The rows' finding (the worst row's score, how many rows are past the threshold); without a calibrated threshold it is recorded, never anomalous. */
  inspect(batch: ScreenBatch): Finding {
    return this.worst(batch.rows.map((row) => this.score(row)), batch.unique);
  }

  /** The finding of some rows' scores (`unique`: which rows are not copies of an earlier one). */
  worst(scores: number[], unique?: readonly boolean[]): Finding {
    return rowsFinding('profile', 'z2_mean', scores, this.cfg.threshold ?? null, unique);
  }

  /** Whether one row's score is past the threshold (the extraction detector counts such rows). */
  isAnomalous(score: number): boolean {
    return this.cfg.threshold !== undefined && score > this.cfg.threshold;
  }
}
