import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { CONFIG_FILE } from '../../serving/src/model-repository.js';
import { modelConfigSchema } from '../../serving/src/model-config.js';
import { loadYamlWithSchema } from '../../oip/src/yaml-with-schema.js';
import { mulberry32 } from '../train/prng.js';
import { calibrateJointGroups } from './calibration.js';
import { loadHeldoutFile, OfflineScorer, splitHeldout, type Heldout, type RowScores } from './offline-scorer.js';
import { VARIATIONS, vary, type Variation } from './variations.js';

export interface CalibrationReport {
  fpr: number;
  samples: number;
  thresholds: Record<string, number>;
  /** The union's false-positive rate on the calibration half, and on the held-out half it never saw. */
  calibrationFpr: number;
  evaluationFpr: number;
  evaluationSamples: number;
  /** Each benign variation tried: the model's accuracy on it, whether the thresholds were held to it, and the union's rate on its unseen half. */
  variations: { name: Variation; accuracy: number; used: boolean; evaluationFpr: number }[];
}

/** A variation counts as legitimate input when the model itself still gets this share of it right. */
export const MIN_VARIATION_ACCURACY = 0.95;

/** Which variations to try: 'auto' (all, for a model whose squeeze section names its image), 'none', or a list. */
export type VariationChoice = 'auto' | 'none' | Variation[];

/**
 * `vigil detectors calibrate`: thresholds for the model's profile and squeeze detectors from its
 * held-out set, so that together they flag at most `fpr` of legitimate inputs (the first half of
 * the held-out set; the second half then measures the rate on inputs the thresholds never saw).
 * Writes them into model.yaml, keeping its comments and layout.
 */
export async function calibrateModel(dir: string, fpr: number, choice: VariationChoice = 'auto'): Promise<CalibrationReport> {
  const file = join(dir, CONFIG_FILE);
  const config = await loadYamlWithSchema(file, modelConfigSchema);
  if (!config.heldout) throw new Error(`${file} names no held-out set (heldout:); calibration needs legitimate inputs`);
  const detectors = (['profile', 'squeeze'] as const).filter((d) => config.detectors[d]?.enabled);
  if (detectors.length === 0) throw new Error(`${file} enables neither the profile nor the squeeze detector: nothing to calibrate`);
  const heldout = await loadHeldoutFile(dir, config.heldout);
  const { calibration, evaluation } = splitHeldout(heldout);
  const image = config.detectors.squeeze?.image;
  const tried: Variation[] = choice === 'none' ? [] : choice === 'auto' ? (image ? [...VARIATIONS] : []) : choice;
  if (tried.length > 0 && !image) throw new Error(`${file}: benign variations need the image shape (detectors.squeeze.image)`);
  const range = config.inputs[0].range ?? [0, 1];
  const scorer = await OfflineScorer.open(config, dir);
  try {
    const rows = variedRows(heldout, image, range);
    const { thresholds, groupFpr, variations: tries } = await calibrationThresholds(scorer, heldout, calibration, { fpr, detectors, tried, image, range });
    const written = Object.fromEntries(detectors.map((d) => [d, ceil6(thresholds[d])]));
    const unionRate = (s: RowScores[]) => s.filter((r) => detectors.some((d) => r[d] > written[d])).length / s.length;
    const ev = await scorer.score(rows(evaluation, null, 2));
    const variations: CalibrationReport['variations'] = [];
    for (const [n, t] of tries.entries()) variations.push({ ...t, evaluationFpr: unionRate(await scorer.score(rows(evaluation, t.name, 200 + n))) });

    const used = variations.filter((v) => v.used).map((v) => v.name);
    const doc = parseDocument(await readFile(file, 'utf8'));
    for (const d of detectors) {
      doc.setIn(['detectors', d, 'threshold'], written[d]);
      doc.setIn(['detectors', d, 'calibration'], doc.createNode({ fpr, samples: calibration.length, ...(used.length ? { variations: used } : {}) }, { flow: true }));
    }
    // The same layout as the generated files: one line per value, no padding inside [ ].
    await writeFile(file, doc.toString({ lineWidth: 0, flowCollectionPadding: false }));
    return { fpr, samples: calibration.length, thresholds: written, calibrationFpr: groupFpr.heldout, evaluationFpr: unionRate(ev), evaluationSamples: ev.length, variations };
  } finally {
    await scorer.close();
  }
}

/** Held-out rows as they are (v null) or varied, seeded: calibrating twice writes the same thresholds. */
export function variedRows(heldout: Heldout, image: readonly [number, number] | undefined, range: readonly [number, number]) {
  return (idx: number[], v: Variation | null, seed: number): Float32Array[] => {
    const rng = mulberry32(seed);
    return idx.map((i) => (v === null || !image ? Float32Array.from(heldout.inputs[i]) : vary(v, heldout.inputs[i], image, rng, range)));
  };
}

export interface ThresholdOptions {
  fpr: number;
  detectors: readonly ('profile' | 'squeeze')[];
  tried: readonly Variation[];
  image: readonly [number, number] | undefined;
  range: readonly [number, number];
  /** Overrides model.yaml's randomize (the evaluation calibrates fixed squeezers too). */
  randomize?: boolean;
}

/**
 * Joint thresholds on the calibration half and each variation of it the model still classifies
 * with MIN_VARIATION_ACCURACY: the union flags at most `fpr` of each (calibrateJointGroups).
 */
export async function calibrationThresholds(scorer: OfflineScorer, heldout: Heldout, calibration: number[], o: ThresholdOptions) {
  const rows = variedRows(heldout, o.image, o.range);
  const asGroup = (s: RowScores[]) => Object.fromEntries(o.detectors.map((d) => [d, s.map((r) => r[d])]));
  const groups: Record<string, Record<string, number[]>> = { heldout: asGroup(await scorer.score(rows(calibration, null, 1), o.randomize)) };
  const variations: { name: Variation; accuracy: number; used: boolean }[] = [];
  for (const [n, v] of o.tried.entries()) {
    const scored = await scorer.score(rows(calibration, v, 100 + n), o.randomize);
    const accuracy = accuracyOf(scored, calibration, heldout);
    const used = accuracy >= MIN_VARIATION_ACCURACY;
    if (used) groups[v] = asGroup(scored);
    variations.push({ name: v, accuracy, used });
  }
  return { ...calibrateJointGroups(groups, o.fpr), variations };
}

function accuracyOf(scores: RowScores[], idx: number[], heldout: Heldout): number {
  return scores.filter((s, k) => s.predicted === heldout.labels[idx[k]]).length / scores.length;
}

/** Six significant digits, rounded up: a written threshold never flags more than the computed one. */
function ceil6(x: number): number {
  if (x === 0) return 0;
  const scale = 10 ** (5 - Math.floor(Math.log10(Math.abs(x))));
  return Math.ceil(x * scale) / scale;
}
