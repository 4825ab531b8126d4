// A one-hidden-layer MLP classifier: scale -> dense -> ReLU -> dense -> softmax.
// Trained here in plain TypeScript so the demo models need no Python toolchain, and the
// same forward() is the reference the ONNX export is tested against.
import { Adam } from './adam.js';
import type { Augment } from './augment.js';
import { mulberry32, type Rng } from './prng.js';
import { shuffleInPlace } from './split.js';

type Vec = Float32Array | Float64Array;

export interface MlpWeights {
  inputs: number;
  hidden: number;
  classes: number;
  /** Raw inputs are multiplied by this before layer 1 (e.g. 1/16 for 0..16 pixels). */
  inputScale: number;
  /** Layer 1 weights, row-major [inputs, hidden]: row i is input i's fan-out. */
  w1: Vec;
  b1: Vec;
  /** Layer 2 weights, row-major [hidden, classes]. */
  w2: Vec;
  b2: Vec;
}

/**
 * The TypeScript forward pass: class probabilities for one raw sample. Pure; computes in
 * float64, so it is a slightly more precise reference than ONNX Runtime's float32 kernels.
 */
export function forward(weights: MlpWeights, x: ArrayLike<number>): Float64Array {
  const { inputs, hidden, classes, inputScale, w1, b1, w2, b2 } = weights;
  if (x.length !== inputs) throw new Error(`forward: expected ${inputs} features, got ${x.length}`);
  const h = new Float64Array(hidden);
  for (let j = 0; j < hidden; j++) h[j] = b1[j];
  for (let i = 0; i < inputs; i++) {
    // Math.fround: the ONNX graph multiplies in float32, so the scaled input is a float32.
    const xi = Math.fround(Math.fround(x[i]) * Math.fround(inputScale));
    if (xi === 0) continue;
    const row = i * hidden;
    for (let j = 0; j < hidden; j++) h[j] += xi * w1[row + j];
  }
  const logits = new Float64Array(classes);
  for (let k = 0; k < classes; k++) logits[k] = b2[k];
  for (let j = 0; j < hidden; j++) {
    const hj = h[j] > 0 ? h[j] : 0;
    if (hj === 0) continue;
    const row = j * classes;
    for (let k = 0; k < classes; k++) logits[k] += hj * w2[row + k];
  }
  softmaxInPlace(logits);
  return logits;
}

/** Index of the largest value; the first one wins ties, as ONNX ArgMax does. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
  return best;
}

function softmaxInPlace(z: Float64Array): void {
  let max = -Infinity;
  for (let k = 0; k < z.length; k++) if (z[k] > max) max = z[k];
  let sum = 0;
  for (let k = 0; k < z.length; k++) {
    z[k] = Math.exp(z[k] - max);
    sum += z[k];
  }
  for (let k = 0; k < z.length; k++) z[k] /= sum;
}

export interface TrainOptions {
  hidden: number;
  classes: number;
  inputScale: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Learning rate is multiplied by this after every epoch. */
  learningRateDecay: number;
  /** Optional per-sample transformation, applied afresh each time a sample is visited. */
  augment?: Augment;
  seed: number;
  /** Called after each epoch, e.g. to print progress. */
  onEpoch?: (report: EpochReport) => void;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  weights: MlpWeights;
}

export interface TrainingSet {
  features: number;
  /** Row-major samples x features, raw units. */
  inputs: Float64Array;
  labels: Uint8Array;
  /** Which rows to train on. */
  rows: number[];
}

/**
 * Mini-batch training with softmax cross-entropy and Adam. Deterministic for a given seed:
 * the seed drives initialisation and per-epoch shuffling, and the arithmetic order is fixed.
 */
export function trainMlp(data: TrainingSet, options: TrainOptions): MlpWeights {
  const F = data.features;
  const H = options.hidden;
  const C = options.classes;
  const rng = mulberry32(options.seed);

  const weights = {
    inputs: F,
    hidden: H,
    classes: C,
    inputScale: options.inputScale,
    w1: uniform(F * H, Math.sqrt(6 / F), rng), // He-uniform: keeps ReLU activations well scaled
    b1: new Float64Array(H),
    w2: uniform(H * C, Math.sqrt(6 / (H + C)), rng), // Glorot-uniform for the softmax layer
    b2: new Float64Array(C),
  };
  const params = [weights.w1, weights.b1, weights.w2, weights.b2];
  const grads = params.map((p) => new Float64Array(p.length));
  const [gw1, gb1, gw2, gb2] = grads;
  const adam = new Adam(params, { learningRate: options.learningRate });

  // Per-sample scratch, allocated once: inner loops must not allocate.
  const nzIndex = new Int32Array(F); // indices of non-zero inputs (MNIST is ~80% zeros)
  const nzValue = new Float64Array(F);
  const h = new Float64Array(H);
  const dh = new Float64Array(H);
  const p = new Float64Array(C);
  const augmented = new Float64Array(F);

  const order = [...data.rows];
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    shuffleInPlace(order, rng);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < order.length; start += options.batchSize) {
      const end = Math.min(start + options.batchSize, order.length);
      const invBatch = 1 / (end - start);
      for (const g of grads) g.fill(0);

      for (let s = start; s < end; s++) {
        const row = order[s];
        const label = data.labels[row];
        let source = data.inputs;
        let base = row * F;
        if (options.augment) {
          options.augment(data.inputs, base, augmented, rng);
          source = augmented;
          base = 0;
        }

        // Forward, layer 1 over non-zero inputs only.
        let nz = 0;
        for (let i = 0; i < F; i++) {
          const xi = source[base + i] * options.inputScale;
          if (xi !== 0) {
            nzIndex[nz] = i;
            nzValue[nz++] = xi;
          }
        }
        h.set(weights.b1);
        for (let n = 0; n < nz; n++) {
          const xi = nzValue[n];
          const w = nzIndex[n] * H;
          for (let j = 0; j < H; j++) h[j] += xi * weights.w1[w + j];
        }
        for (let j = 0; j < H; j++) if (h[j] < 0) h[j] = 0;

        // Forward, layer 2 + softmax.
        p.set(weights.b2);
        for (let j = 0; j < H; j++) {
          const hj = h[j];
          if (hj === 0) continue;
          const w = j * C;
          for (let k = 0; k < C; k++) p[k] += hj * weights.w2[w + k];
        }
        softmaxInPlace(p);
        lossSum -= Math.log(Math.max(p[label], 1e-12));
        if (argmax(p) === label) correct++;

        // Backward: dLoss/dlogits = p - onehot, averaged over the batch.
        p[label] -= 1;
        for (let k = 0; k < C; k++) {
          p[k] *= invBatch;
          gb2[k] += p[k];
        }
        for (let j = 0; j < H; j++) {
          const w = j * C;
          let acc = 0;
          for (let k = 0; k < C; k++) acc += p[k] * weights.w2[w + k];
          const hj = h[j];
          dh[j] = hj > 0 ? acc : 0; // ReLU gate
          if (hj === 0) continue;
          for (let k = 0; k < C; k++) gw2[w + k] += hj * p[k];
        }
        for (let j = 0; j < H; j++) gb1[j] += dh[j];
        for (let n = 0; n < nz; n++) {
          const xi = nzValue[n];
          const w = nzIndex[n] * H;
          for (let j = 0; j < H; j++) gw1[w + j] += xi * dh[j];
        }
      }
      adam.step(grads);
    }
    options.onEpoch?.({
      epoch,
      loss: lossSum / order.length,
      trainAccuracy: correct / order.length,
      weights,
    });
    adam.learningRate *= options.learningRateDecay;
  }
  return weights;
}

function uniform(n: number, limit: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng() * 2 - 1) * limit;
  return out;
}
