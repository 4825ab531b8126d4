// Training-time data augmentation for images. With only 8,000 MNIST training samples an MLP
// overfits (train 99%, held-out ~95%); random small translations are the cheapest fix.
import { randomInt, type Rng } from './prng.js';

/**
 * Writes a transformed copy of the sample at `src[offset .. offset + dst.length)` into `dst`.
 * Must draw randomness only from `rng`, so training stays reproducible.
 */
export type Augment = (src: Float64Array, offset: number, dst: Float64Array, rng: Rng) => void;

/** Shifts a row-major width x height image by up to `maxShift` pixels each way; vacated pixels are 0. */
export function randomShift(width: number, height: number, maxShift: number): Augment {
  return (src, offset, dst, rng) => {
    const dx = randomInt(rng, 2 * maxShift + 1) - maxShift;
    const dy = randomInt(rng, 2 * maxShift + 1) - maxShift;
    dst.fill(0);
    for (let y = Math.max(0, dy); y < Math.min(height, height + dy); y++) {
      const from = offset + (y - dy) * width;
      const to = y * width;
      for (let x = Math.max(0, dx); x < Math.min(width, width + dx); x++) dst[to + x] = src[from + x - dx];
    }
  };
}
