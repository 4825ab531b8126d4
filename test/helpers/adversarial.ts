import { readFileSync } from 'node:fs';
import { fgsm, pixelBounds } from '../../tools/detectors-eval/attacks/white-box.js';
import { importOnnxWeights } from '../../tools/train/onnx-import.js';
import { BUNDLED_MODELS } from './vigil-harness.js';
import { loadHeldout } from './heldout.js';

/**
 * The first held-out mnist digit, from the half calibration never saw, that FGSM at ε fools
 * (white-box, from the shipped weights): an adversarial example as an attacker would send it.
 */
export function adversarialDigit(eps: number): number[] {
  const weights = importOnnxWeights(readFileSync(`${BUNDLED_MODELS}/mnist/1/model.onnx`));
  const heldout = loadHeldout('mnist');
  for (let i = heldout.labels.length / 2; i < heldout.labels.length; i++) {
    const r = fgsm(weights, heldout.inputs[i], heldout.labels[i], eps, pixelBounds(heldout.features));
    if (r.success) return Array.from(r.adv);
  }
  throw new Error('no successful adversarial example');
}
