import { randomBytes } from 'node:crypto';
import type { Detector, DetectorPhase, DetectorServices, PreparedDetector } from '../../../detectors/src/detector.js';
import { DETECTOR_REGISTRY } from '../../../detectors/src/registry.js';
import { numericFeatures } from '../../../detectors/src/screen-batch.js';
import type { PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import type { SqueezerName } from '../../../detectors/src/squeeze/squeezers.js';
import type { ModelConfig } from '../../../serving/src/model-config.js';
import { signatureOf } from '../../../serving/src/model-config.js';

/** One registered detector, set up for a model version. */
export interface ScreeningDetector extends PreparedDetector {
  name: string;
  phase: DetectorPhase;
}

/** Everything the gateway needs to screen one model version, built once at start. */
export interface ModelScreening {
  /** Features of the one numeric input, when the numeric detectors apply. */
  features: number | null;
  /** Run by the screen stage, on the request, before the pool. */
  request: ScreeningDetector[];
  /** Run by the screen-answer stage, on the pool's answer and its report (pool and answer phases). */
  answer: ScreeningDetector[];
  /** What the pool computes in its run for them (squeeze scores, predictions); absent: nothing. */
  pool?: PoolScreenSpec;
}

/**
 * Sets up every registered detector the model's config enables. A detector that is enabled and
 * cannot run (a missing profile, inputs that do not suit it) fails the start loudly.
 */
export async function loadModelScreening(config: ModelConfig, dir: string, services: DetectorServices): Promise<ModelScreening> {
  const signature = signatureOf(config);
  const ranges = new Map(config.inputs.flatMap((t) => (t.range ? [[t.name, t.range] as const] : [])));
  const features = numericFeatures(signature);
  const facts = { dir, signature, features, ranges, profile: config.profile };
  const screening: ModelScreening = { features, request: [], answer: [] };
  // Seen as the base interface: each prepare takes its own section of the parsed config.
  for (const d of DETECTOR_REGISTRY as readonly Detector[]) {
    const prepared = await d.prepare((config.detectors as Record<string, unknown>)[d.name], facts, services);
    if (!prepared) continue;
    (d.phase === 'request' ? screening.request : screening.answer).push({ ...prepared, name: d.name, phase: d.phase });
  }
  const needs = screening.answer.flatMap((d) => (d.pool ? [d.pool] : []));
  if (needs.length > 0 && features !== null) {
    const squeezers = [...new Set(needs.flatMap((n): SqueezerName[] => n.squeezers ?? []))];
    const probabilities = needs.find((n) => n.probabilities)?.probabilities ?? 'probabilities';
    if (!config.outputs.some((o) => o.name === probabilities)) throw new Error(`detectors need the class probabilities output '${probabilities}', which the model does not declare`);
    const range = ranges.get(signature.inputs[0].name);
    if (squeezers.length > 0 && !range) throw new Error("squeezing needs the input's value range");
    screening.pool = { features, squeezers, range: range ? [range[0], range[1]] : [0, 1], image: needs.find((n) => n.image)?.image, randomize: needs.some((n) => n.randomize), probabilities };
    // One secret per gateway process and model version: the pool keys each row's squeeze draws with it.
    if (screening.pool.randomize) screening.pool.secret = randomBytes(32).toString('hex');
  }
  return screening;
}
