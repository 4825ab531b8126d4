// Held-out accuracy measured with the TypeScript forward pass.
import { argmax, forward, type MlpWeights } from './mlp.js';

export function accuracy(
  weights: MlpWeights,
  inputs: Float64Array,
  labels: ArrayLike<number>,
  rows: readonly number[],
): number {
  const F = weights.inputs;
  let correct = 0;
  for (const row of rows) {
    const probabilities = forward(weights, inputs.subarray(row * F, (row + 1) * F));
    if (argmax(probabilities) === labels[row]) correct++;
  }
  return correct / rows.length;
}
