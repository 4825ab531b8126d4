import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ModelConfig } from '../../serving/src/model-config.js';
import { signatureOf } from '../../serving/src/model-config.js';
import { OnnxRunner, rowsOf } from '../../serving/src/worker/onnx-runner.js';
import { detectorConfigSchema } from '../../detectors/src/detector-config.js';
import { ProfileDetector, type TrainingProfile } from '../../detectors/src/profile-detector.js';
import { poolScreenReport, poolScreenRows, type PoolScreenSpec } from '../../detectors/src/squeeze/pool-screen.js';
import { seededRng, type Rng } from '../../detectors/src/squeeze/squeeze-rng.js';

export interface Heldout {
  features: number;
  labels: number[];
  inputs: number[][];
}

/** Scores of one row from each numeric detector, exactly as the gateway and pool compute them. */
export interface RowScores {
  profile: number;
  squeeze: number;
  predicted: number;
  confidence: number;
}

/**
 * Scores rows offline with the code the live path runs: the profile detector of the gateway, and
 * the pool's squeezed batch through ONNX Runtime. Calibration and the evaluation use it, so their
 * thresholds and figures hold for the served model. Randomised squeezers draw from a fixed seed
 * here (the pool draws a secret one per request), so calibration and evaluation are reproducible.
 */
export class OfflineScorer {
  private readonly rng: Rng = seededRng([20261204, 15, 1, 7]);

  private constructor(
    readonly config: ModelConfig,
    readonly profile: TrainingProfile,
    private readonly profileDetector: ProfileDetector,
    private readonly runner: OnnxRunner,
    readonly spec: PoolScreenSpec,
  ) {}

  static async open(config: ModelConfig, dir: string): Promise<OfflineScorer> {
    const features = signatureOf(config).inputs[0].shape[1];
    const range = config.inputs[0].range ?? [0, 1];
    const profile = JSON.parse(await readFile(join(dir, config.profile ?? 'profile.json'), 'utf8')) as TrainingProfile;
    const runner = await OnnxRunner.create(await readFile(join(dir, 'model.onnx')), signatureOf(config), 1);
    const squeeze = config.detectors.squeeze;
    const spec: PoolScreenSpec = {
      features,
      squeezers: squeeze?.enabled ? squeeze.squeezers : [],
      range,
      image: squeeze?.image,
      randomize: squeeze?.randomize ?? false,
      probabilities: squeeze?.probabilities ?? 'probabilities',
    };
    const profileCfg = config.detectors.profile ?? detectorConfigSchema.parse({ profile: {} }).profile!;
    return new OfflineScorer(config, profile, new ProfileDetector(profile, profileCfg, range), runner, spec);
  }

  /** The profile score alone (no model run). */
  profileScore(row: Float32Array): number {
    return this.profileDetector.score(row);
  }

  /**
   * Scores rows in batches of the model's max batch size, as separate requests would be.
   * `randomize` overrides model.yaml's, e.g. to evaluate fixed squeezers beside randomised ones.
   */
  async score(rows: Float32Array[], randomize = this.spec.randomize): Promise<RowScores[]> {
    const out: RowScores[] = [];
    const step = Math.max(1, this.config.max_batch_size || 1);
    const spec = { ...this.spec, randomize };
    for (let i = 0; i < rows.length; i += step) {
      const batch = rows.slice(i, i + step);
      const all = poolScreenRows(batch, spec, this.rng);
      const [raw] = await this.runner.run([this.runner.rowFeeds(all)], [this.spec.probabilities]);
      const report = poolScreenReport(rowsOf(raw[this.spec.probabilities]), batch.length, this.spec);
      batch.forEach((row, r) =>
        out.push({ profile: this.profileDetector.score(row), squeeze: report.squeeze?.[r] ?? 0, predicted: report.top[r], confidence: report.conf[r] }),
      );
    }
    return out;
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}

export async function loadHeldoutFile(dir: string, file: string): Promise<Heldout> {
  return JSON.parse(gunzipSync(await readFile(join(dir, file))).toString('utf8')) as Heldout;
}

/** The held-out split: the first half calibrates thresholds, the second half measures them (never both). */
export function splitHeldout(h: Heldout): { calibration: number[]; evaluation: number[] } {
  const half = Math.floor(h.labels.length / 2);
  const idx = h.labels.map((_, i) => i);
  return { calibration: idx.slice(0, half), evaluation: idx.slice(half) };
}
