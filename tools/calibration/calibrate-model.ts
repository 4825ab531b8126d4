import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { CONFIG_FILE } from '../../serving/src/model-repository.js';
import { modelConfigSchema } from '../../serving/src/model-config.js';
import { loadYamlWithSchema } from '../../oip/src/yaml-with-schema.js';
import { calibrateJoint } from './calibration.js';
import { loadHeldoutFile, OfflineScorer, splitHeldout } from './offline-scorer.js';

export interface CalibrationReport {
  fpr: number;
  samples: number;
  thresholds: Record<string, number>;
  /** The union's false-positive rate on the calibration half, and on the held-out half it never saw. */
  calibrationFpr: number;
  evaluationFpr: number;
  evaluationSamples: number;
}

/**
 * `vigil detectors calibrate`: thresholds for the model's profile and squeeze detectors from its
 * held-out set, so that together they flag at most `fpr` of legitimate inputs (the first half of
 * the held-out set; the second half then measures the rate on inputs the thresholds never saw).
 * Writes them into model.yaml, keeping its comments and layout.
 */
export async function calibrateModel(dir: string, fpr: number): Promise<CalibrationReport> {
  const file = join(dir, CONFIG_FILE);
  const config = await loadYamlWithSchema(file, modelConfigSchema);
  if (!config.heldout) throw new Error(`${file} names no held-out set (heldout:); calibration needs legitimate inputs`);
  const detectors = (['profile', 'squeeze'] as const).filter((d) => config.detectors[d]?.enabled);
  if (detectors.length === 0) throw new Error(`${file} enables neither the profile nor the squeeze detector: nothing to calibrate`);
  const heldout = await loadHeldoutFile(dir, config.heldout);
  const { calibration, evaluation } = splitHeldout(heldout);
  const scorer = await OfflineScorer.open(config, dir);
  try {
    const score = (idx: number[]) => scorer.score(idx.map((i) => Float32Array.from(heldout.inputs[i])));
    const cal = await score(calibration);
    const { thresholds, unionFpr } = calibrateJoint(Object.fromEntries(detectors.map((d) => [d, cal.map((s) => s[d])])), fpr);
    const written = Object.fromEntries(detectors.map((d) => [d, ceil6(thresholds[d])]));
    const ev = await score(evaluation);
    const flagged = ev.filter((s) => detectors.some((d) => s[d] > written[d])).length;

    const doc = parseDocument(await readFile(file, 'utf8'));
    for (const d of detectors) {
      doc.setIn(['detectors', d, 'threshold'], written[d]);
      doc.setIn(['detectors', d, 'calibration'], doc.createNode({ fpr, samples: calibration.length }, { flow: true }));
    }
    // The same layout as the generated files: one line per value, no padding inside [ ].
    await writeFile(file, doc.toString({ lineWidth: 0, flowCollectionPadding: false }));
    return { fpr, samples: calibration.length, thresholds: written, calibrationFpr: unionFpr, evaluationFpr: flagged / ev.length, evaluationSamples: ev.length };
  } finally {
    await scorer.close();
  }
}

/** Six significant digits, rounded up: a written threshold never flags more than the computed one. */
function ceil6(x: number): number {
  if (x === 0) return 0;
  const scale = 10 ** (5 - Math.floor(Math.log10(Math.abs(x))));
  return Math.ceil(x * scale) / scale;
}
