// Analytic gradient of the serving MLP's cross-entropy loss with respect to its raw input: what
// the white-box attacks climb. Mirrors mlp.ts forward() (same float32 input rounding), then
// backpropagates through softmax, layer 2, the ReLU gate, layer 1 and the input scale.
import type { MlpWeights } from '../../train/mlp.js';

export interface InputGradient {
  /** Class probabilities at x, as forward() computes them. */
  probs: Float64Array;
  /** d(-log probs[label]) / dx, per raw input feature. */
  grad: Float64Array;
}

export function inputGradient(weights: MlpWeights, x: ArrayLike<number>, label: number): InputGradient {
  const { inputs, hidden, classes, inputScale, w1, b1, w2, b2 } = weights;
  if (x.length !== inputs) throw new Error(`inputGradient: expected ${inputs} features, got ${x.length}`);

  const h = Float64Array.from(b1);
  for (let i = 0; i < inputs; i++) {
    const xi = Math.fround(Math.fround(x[i]) * Math.fround(inputScale));
    if (xi === 0) continue;
    const row = i * hidden;
    for (let j = 0; j < hidden; j++) h[j] += xi * w1[row + j];
  }
  const probs = Float64Array.from(b2);
  for (let j = 0; j < hidden; j++) {
    if (h[j] <= 0) continue;
    const row = j * classes;
    for (let k = 0; k < classes; k++) probs[k] += h[j] * w2[row + k];
  }
  let max = -Infinity;
  for (let k = 0; k < classes; k++) max = Math.max(max, probs[k]);
  let sum = 0;
  for (let k = 0; k < classes; k++) sum += probs[k] = Math.exp(probs[k] - max);
  for (let k = 0; k < classes; k++) probs[k] /= sum;

  // dLoss/dlogits = p - onehot(label); the ReLU passes gradient only where it was active.
  const dz = probs.slice();
  dz[label] -= 1;
  const dh = new Float64Array(hidden);
  for (let j = 0; j < hidden; j++) {
    if (h[j] <= 0) continue;
    const row = j * classes;
    for (let k = 0; k < classes; k++) dh[j] += w2[row + k] * dz[k];
  }
  const grad = new Float64Array(inputs);
  for (let i = 0; i < inputs; i++) {
    const row = i * hidden;
    let acc = 0;
    for (let j = 0; j < hidden; j++) acc += w1[row + j] * dh[j];
    grad[i] = acc * inputScale;
  }
  return { probs, grad };
}
