import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DetectorConfig } from '../../../detectors/src/detector-config.js';
import { ProfileDetector, type TrainingProfile } from '../../../detectors/src/profile-detector.js';
import { numericFeatures } from '../../../detectors/src/screen-batch.js';
import type { PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import type { ModelConfig } from '../../../serving/src/model-config.js';
import { signatureOf } from '../../../serving/src/model-config.js';

/** Everything the gateway needs to screen one model version, built once at start. */
export interface ModelScreening {
  structural: DetectorConfig['structural'];
  ranges: ReadonlyMap<string, readonly [number, number]>;
  /** Features of the one numeric input, when the numeric detectors apply. */
  features: number | null;
  profile?: ProfileDetector;
  squeeze?: { threshold: number | null };
  extraction?: NonNullable<DetectorConfig['extraction']>;
  /** What the pool computes in its run (squeeze scores, predictions); absent: nothing. */
  pool?: PoolScreenSpec;
}

/** Reads the model's detector config and training profile; a missing profile fails the start loudly. */
export async function loadModelScreening(config: ModelConfig, dir: string): Promise<ModelScreening> {
  const d = config.detectors;
  const ranges = new Map(config.inputs.flatMap((t) => (t.range ? [[t.name, t.range] as const] : [])));
  const features = numericFeatures(signatureOf(config));
  const screening: ModelScreening = { structural: d.structural, ranges, features };
  if (features === null) {
    // Never serve a model with its detectors silently off.
    if (d.profile?.enabled || d.squeeze?.enabled || d.extraction?.enabled) throw new Error('its numeric detectors need one FP32 input of shape [-1, features]');
    return screening;
  }
  const range = config.inputs[0].range!;
  if (d.profile?.enabled && config.profile) {
    const profile = JSON.parse(await readFile(join(dir, config.profile), 'utf8')) as TrainingProfile;
    if (profile.features !== features || profile.mean.length !== features) {
      throw new Error(`${config.profile} describes ${profile.features} features; the model's input has ${features}`);
    }
    screening.profile = new ProfileDetector(profile, d.profile, range);
  }
  const squeeze = d.squeeze?.enabled ? d.squeeze : undefined;
  if (squeeze) screening.squeeze = { threshold: squeeze.threshold ?? null };
  if (d.extraction?.enabled) screening.extraction = d.extraction;
  if (squeeze || screening.extraction) {
    const probabilities = squeeze?.probabilities ?? 'probabilities';
    if (!config.outputs.some((o) => o.name === probabilities)) throw new Error(`detectors need the class probabilities output '${probabilities}', which the model does not declare`);
    screening.pool = { features, squeezers: squeeze?.squeezers ?? [], range, image: squeeze?.image, probabilities };
  }
  return screening;
}
