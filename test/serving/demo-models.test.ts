// Checks the bundled demo models (models/<name>/1/, built by `npm run models`): the config pins
// the ONNX file, ONNX Runtime agrees with the TypeScript forward pass over the weights stored in
// the ONNX file itself, the recorded accuracy is what ORT measures, and the profile is sane.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { parse } from 'yaml';
import { argmax, forward } from '../../tools/train/mlp.js';
import { importOnnxWeights } from '../../tools/train/onnx-import.js';

const MODELS = ['mnist', 'digits'];
const TOLERANCE = 1e-5;
const BATCH = 100;

interface ModelYaml {
  digest: string;
  inputs: { name: string; shape: number[]; range: [number, number] }[];
  outputs: { name: string; shape: number[] }[];
  labels: string[];
  training: { heldout_samples: number; heldout_accuracy: number };
}

interface Heldout {
  features: number;
  labels: number[];
  inputs: number[][];
}

interface Profile {
  features: number;
  samples: number;
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
}

// `npm test` runs from the repository root; the compiled test lives under dist/.
const modelDir = (name: string) => join(process.cwd(), 'models', name, '1');

for (const name of MODELS) {
  test(`demo model ${name}`, async (t) => {
    const dir = modelDir(name);
    const onnxBytes = readFileSync(join(dir, 'model.onnx'));
    const config = parse(readFileSync(join(dir, 'model.yaml'), 'utf8')) as ModelYaml;
    const F = config.inputs[0].shape[1];

    await t.test('model.yaml digest pins model.onnx', () => {
      assert.equal(config.digest, `sha256:${createHash('sha256').update(onnxBytes).digest('hex')}`);
    });

    const heldout = JSON.parse(gunzipSync(readFileSync(join(dir, 'heldout.json.gz'))).toString('utf8')) as Heldout;
    assert.equal(heldout.features, F);
    assert.equal(heldout.inputs.length, heldout.labels.length);
    assert.equal(heldout.labels.length, config.training.heldout_samples);

    const session = await InferenceSession.create(onnxBytes, { intraOpNumThreads: 1 });
    t.after(() => session.release());
    const weights = importOnnxWeights(onnxBytes);

    // All held-out samples through ORT, batched; keep probabilities and labels per sample.
    const ortProbabilities: Float32Array[] = [];
    const ortLabels: number[] = [];
    for (let start = 0; start < heldout.inputs.length; start += BATCH) {
      const rows = heldout.inputs.slice(start, start + BATCH);
      const flat = new Float32Array(rows.length * F);
      rows.forEach((row, r) => flat.set(row, r * F));
      const out = await session.run({ input: new Tensor('float32', flat, [rows.length, F]) });
      const probabilities = out.probabilities.data as Float32Array;
      const labels = out.label.data as BigInt64Array;
      assert.deepEqual(out.probabilities.dims, [rows.length, config.labels.length]);
      assert.deepEqual(out.label.dims, [rows.length, 1]);
      for (let r = 0; r < rows.length; r++) {
        ortProbabilities.push(probabilities.slice(r * config.labels.length, (r + 1) * config.labels.length));
        ortLabels.push(Number(labels[r]));
      }
    }

    await t.test('session signature matches model.yaml', () => {
      assert.deepEqual(session.inputNames, config.inputs.map((i) => i.name));
      assert.deepEqual(session.outputNames, config.outputs.map((o) => o.name));
    });

    await t.test('ONNX Runtime matches the TypeScript forward pass on the held-out set', () => {
      assert.ok(heldout.inputs.length >= 200, 'at least 200 held-out samples');
      for (let s = 0; s < heldout.inputs.length; s++) {
        const expected = forward(weights, heldout.inputs[s]);
        const actual = ortProbabilities[s];
        for (let k = 0; k < expected.length; k++) {
          const diff = Math.abs(actual[k] - expected[k]);
          assert.ok(diff <= TOLERANCE, `sample ${s} class ${k}: ORT ${actual[k]} vs TS ${expected[k]} (|diff| ${diff})`);
        }
        assert.equal(ortLabels[s], argmax(actual), `sample ${s}: label is not the argmax of probabilities`);
        assert.equal(ortLabels[s], argmax(expected), `sample ${s}: ORT and TS disagree on the label`);
      }
    });

    await t.test('held-out accuracy under ORT equals training.heldout_accuracy', () => {
      const correct = ortLabels.filter((label, s) => label === heldout.labels[s]).length;
      const measured = Number((correct / heldout.labels.length).toFixed(4));
      assert.equal(measured, config.training.heldout_accuracy);
      assert.ok(measured >= 0.95, `accuracy ${measured} < 0.95`);
    });

    await t.test('profile.json has one sane entry per feature', () => {
      const profile = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')) as Profile;
      const [low, high] = config.inputs[0].range;
      assert.equal(profile.features, F);
      assert.ok(profile.samples > 0);
      for (const key of ['mean', 'std', 'min', 'max'] as const) assert.equal(profile[key].length, F, key);
      for (let i = 0; i < F; i++) {
        assert.ok(profile.min[i] <= profile.mean[i] && profile.mean[i] <= profile.max[i], `feature ${i}: min <= mean <= max`);
        assert.ok(profile.std[i] >= 0, `feature ${i}: std >= 0`);
        assert.ok(low <= profile.min[i] && profile.max[i] <= high, `feature ${i}: within range [${low}, ${high}]`);
      }
    });
  });
}
