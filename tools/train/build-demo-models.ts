// Entry point of `npm run models`: trains the bundled demo models and writes
// models/<name>/1/{model.onnx, model.yaml, profile.json, heldout.json.gz} and models/README.md.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { loadDigits, loadMnist, type Dataset } from './datasets.js';
import { randomShift, type Augment } from './augment.js';
import { accuracy } from './evaluate.js';
import { trainMlp } from './mlp.js';
import { renderModelConfig } from './render-model-config.js';
import { calibrateModel } from '../calibration/calibrate-model.js';
import { renderModelsReadme, type ReadmeEntry } from './models-readme.js';
import { exportOnnx } from './onnx-export.js';
import { importOnnxWeights } from './onnx-import.js';
import { featureProfile } from './profile.js';
import { mulberry32 } from './prng.js';
import { stratifiedSplit } from './split.js';

// This file runs from dist/tools/train/, three levels below the repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLASSES = 10;
const MIN_ACCURACY = 0.95;

interface DemoModelSpec {
  load: () => Dataset;
  heldout: number;
  hidden: number;
  /** Multiplier applied inside the graph so the model accepts raw input values. */
  inputScale: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  learningRateDecay: number;
  augment?: Augment;
  seed: number;
}

const SPECS: DemoModelSpec[] = [
  {
    load: loadMnist,
    heldout: 2000,
    hidden: 128,
    inputScale: 1, // already [0, 1]
    epochs: 20,
    batchSize: 32,
    learningRate: 1e-3,
    learningRateDecay: 0.9,
    // Random 1-pixel shifts: without them the MLP overfits 8,000 samples (~0.95 held out).
    augment: randomShift(28, 28, 1),
    seed: 20240501,
  },
  {
    load: () => loadDigits(join(ROOT, 'serving/data/digits/digits.csv.gz')),
    heldout: 360,
    hidden: 64,
    inputScale: 1 / 16, // exact in float32
    epochs: 40,
    batchSize: 32,
    learningRate: 2e-3,
    learningRateDecay: 0.95,
    seed: 20240502,
  },
];

function buildModel(spec: DemoModelSpec): ReadmeEntry {
  const started = performance.now();
  const data = spec.load();
  const F = data.features;
  // Separate streams for the split and for training, so changing epochs never moves samples.
  const split = stratifiedSplit(data.labels, spec.heldout, mulberry32(spec.seed));
  const architecture = `${F}-${spec.hidden}-${CLASSES} MLP, ReLU, softmax${spec.augment ? ', trained with 1-pixel random shifts' : ''}`;
  console.log(`\n${data.name}: ${architecture}; ${split.train.length} train / ${split.heldout.length} held out`);

  const trained = trainMlp(
    { features: F, inputs: data.inputs, labels: data.labels, rows: split.train },
    {
      hidden: spec.hidden,
      classes: CLASSES,
      inputScale: spec.inputScale,
      epochs: spec.epochs,
      batchSize: spec.batchSize,
      learningRate: spec.learningRate,
      learningRateDecay: spec.learningRateDecay,
      augment: spec.augment,
      seed: spec.seed + 1,
      onEpoch: ({ epoch, loss, trainAccuracy, weights }) => {
        // Held-out accuracy is only printed, never used to pick epochs or weights.
        const heldout = accuracy(weights, data.inputs, data.labels, split.heldout);
        console.log(
          `  epoch ${String(epoch).padStart(2)}  loss ${loss.toFixed(4)}  train acc ${trainAccuracy.toFixed(4)}  held-out acc ${heldout.toFixed(4)}`,
        );
      },
    },
  );

  const onnxBytes = exportOnnx(trained, {
    name: `${data.name}_mlp`,
    description: `vigil demo model "${data.name}": ${architecture}. Trained on ${data.description}.`,
  });
  const digest = `sha256:${createHash('sha256').update(onnxBytes).digest('hex')}`;
  // Measure accuracy on the weights as shipped (float32, read back from model.onnx).
  const heldoutAccuracy = Number(accuracy(importOnnxWeights(onnxBytes), data.inputs, data.labels, split.heldout).toFixed(4));
  if (heldoutAccuracy < MIN_ACCURACY) {
    throw new Error(`${data.name}: held-out accuracy ${heldoutAccuracy} is below ${MIN_ACCURACY}`);
  }

  const dir = join(ROOT, 'models', data.name, '1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), onnxBytes);
  writeFileSync(
    join(dir, 'model.yaml'),
    renderModelConfig({
      digest,
      features: F,
      range: data.range,
      classes: CLASSES,
      detectors: demoDetectors(data.name, F),
      training: {
        dataset: data.description,
        architecture,
        seed: spec.seed,
        epochs: spec.epochs,
        train_samples: split.train.length,
        heldout_samples: split.heldout.length,
        heldout_accuracy: heldoutAccuracy,
      },
    }),
  );
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(featureProfile(data.inputs, F, split.train)) + '\n');
  const heldout = {
    features: F,
    labels: split.heldout.map((row) => data.labels[row]),
    // Raw source values, unchanged: JSON prints the shortest exact decimal (0.988, not 0.98799...).
    inputs: split.heldout.map((row) => Array.from(data.inputs.subarray(row * F, (row + 1) * F))),
  };
  writeFileSync(join(dir, 'heldout.json.gz'), gzipSync(JSON.stringify(heldout), { level: 9 }));

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${data.name}: held-out accuracy ${heldoutAccuracy.toFixed(4)}, ${seconds}s`);
  console.log(`${data.name}: model.onnx ${digest}`);
  return {
    name: data.name,
    architecture,
    features: F,
    range: data.range,
    trainSamples: split.train.length,
    heldoutSamples: split.heldout.length,
    heldoutAccuracy,
    digest,
  };
}

/**
 * Screening for the demo models: structural budgets and the profile detector for both; feature
 * squeezing (bit depth, 2x2 and 3x3 median, the paper's MNIST set) for the 28x28 images only,
 * the 8x8 digits being too coarse for it; extraction detection for both.
 */
function demoDetectors(name: string, features: number): Record<string, unknown> {
  const side = Math.round(Math.sqrt(features));
  return {
    structural: { max_elements: 64 * features, parameters: [], tensor_parameters: [] },
    profile: { enabled: true },
    ...(name === 'mnist' ? { squeeze: { enabled: true, image: [side, side], squeezers: ['bit_depth_1', 'median_2x2', 'median_3x3'], randomize: true } } : {}),
    extraction: { enabled: true },
    // A copy trained on 500 real digits agrees with mnist on 87.6% of unseen ones, on 1,000 on 89.8%
    // (npm run eval:detectors): the budgets stop a knockoff before 90%. No source budget: behind a
    // NAT, or an ingress without server.trusted_proxies, one address is everyone. digits is not budgeted.
    ...(name === 'mnist' ? { budget: { enabled: true, window: 'day', principal: 350, owner: 500, model: 5000 } } : {}),
  };
}

// The bundled policy refuses a one-row request whose row is anomalous, so the false-positive rate
// is the share of honest single-row requests refused. mnist is held to 5% on realistic variations
// of its digits (about 1% of held-out ones); digits, with no variations to hold (8x8, no squeezing),
// is calibrated at 1% directly.
const CALIBRATION_FPR: Record<string, number> = { mnist: 0.05, digits: 0.01 };

const entries = SPECS.map(buildModel);
for (const e of entries) {
  const report = await calibrateModel(join(ROOT, 'models', e.name, '1'), CALIBRATION_FPR[e.name] ?? 0.05);
  console.log(`${e.name}: detector thresholds ${JSON.stringify(report.thresholds)} (held-out false-positive rate ${report.evaluationFpr})`);
}
writeFileSync(join(ROOT, 'models', 'README.md'), renderModelsReadme(entries));
