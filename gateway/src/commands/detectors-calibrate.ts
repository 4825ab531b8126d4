import { scanRepository } from '../../../serving/src/model-repository.js';
import { calibrateModel, MIN_VARIATION_ACCURACY, type VariationChoice } from '../../../tools/calibration/calibrate-model.js';
import { VARIATIONS, type Variation } from '../../../tools/calibration/variations.js';
import { loadConfig } from '../config/load-config.js';

/** The --variations help (here, since only this command may reach into tools/). */
export const VARIATIONS_HELP = `benign variations of the held-out images to hold that rate on too, where the model still gets at least ${MIN_VARIATION_ACCURACY * 100}% of them right: auto (all, for models with an image), none, or a list of ${VARIATIONS.join(', ')}`;

export interface CalibrateOptions {
  model: string;
  version?: string;
  fpr: string;
  variations?: string;
  config?: string;
}

/** `vigil detectors calibrate`: thresholds from the model's held-out set, written into its model.yaml. */
export async function detectorsCalibrateCommand(opts: CalibrateOptions): Promise<number> {
  const fpr = Number(opts.fpr);
  if (!(fpr > 0 && fpr < 0.5)) {
    process.stderr.write(`vigil: --fpr must be a rate between 0 and 0.5 (e.g. 0.05), got ${opts.fpr}\n`);
    return 2;
  }
  const list = [...new Set((opts.variations ?? 'auto').split(',').map((s) => s.trim()).filter(Boolean))];
  const unknown = list.filter((v) => v !== 'auto' && v !== 'none' && !(VARIATIONS as readonly string[]).includes(v));
  if (unknown.length > 0 || list.length === 0 || (list.length > 1 && list.some((v) => v === 'auto' || v === 'none'))) {
    process.stderr.write(`vigil: --variations must be auto, none, or a list of ${VARIATIONS.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}\n`);
    return 2;
  }
  const choice: VariationChoice = list[0] === 'auto' || list[0] === 'none' ? list[0] : (list as Variation[]);
  const { config } = await loadConfig(opts.config);
  const scan = await scanRepository(config.models.repository);
  const versions = scan.models.get(opts.model);
  const v = opts.version === undefined ? versions?.[0] : versions?.find((x) => x.version === opts.version);
  if (!v) {
    process.stderr.write(`vigil: no model ${opts.model}${opts.version ? ` version ${opts.version}` : ''} in ${scan.root}\n`);
    return 1;
  }
  if (v.status !== 'ok') {
    process.stderr.write(`vigil: ${v.name}/${v.version} is refused (${v.reason}); fix that first\n`);
    return 1;
  }
  let r;
  try {
    r = await calibrateModel(v.dir, fpr, choice);
  } catch (err) {
    process.stderr.write(`vigil: ${v.name}/${v.version}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`${v.name}/${v.version}: calibrated on ${r.samples} held-out inputs for a false-positive rate of ${fpr}\n`);
  for (const [detector, t] of Object.entries(r.thresholds)) process.stdout.write(`  ${detector.padEnd(8)} threshold ${t}\n`);
  process.stdout.write(`  together they flag ${pct(r.calibrationFpr)} of the calibration half and ${pct(r.evaluationFpr)} of the other ${r.evaluationSamples} held-out inputs\n`);
  for (const x of r.variations) {
    const why = x.used ? `held to ${pct(fpr)}` : `not held to it: the model gets only ${pct(x.accuracy)} right (under ${pct(MIN_VARIATION_ACCURACY)})`;
    process.stdout.write(`  ${x.name.padEnd(16)} model accuracy ${pct(x.accuracy)}, flagged ${pct(x.evaluationFpr)} of the unseen half; ${why}\n`);
  }
  process.stdout.write(`written to ${v.dir}/model.yaml; restart vigil to apply\n`);
  return 0;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}
