// Benign variation of image inputs: what real clients send that the held-out set does not show.
// Digits written with a thicker or thinner pen, shifted in their box, blurred by a camera, on a
// grey background, binarised by a canvas, faint. Calibration may hold the detectors' false
// positives down on these as well as on the held-out set; the evaluation reports each one.
import { randomInt, type Rng } from '../train/prng.js';

export const VARIATIONS = ['shift_1', 'shift_2', 'blur', 'thick_pen', 'thin_pen', 'grey_background', 'binarised', 'faint'] as const;
export type Variation = (typeof VARIATIONS)[number];

/** One varied copy of a row holding a height×width image whose values span `range` (ink high, background low). */
export function vary(name: Variation, row: ArrayLike<number>, image: readonly [number, number], rng: Rng, [lo, hi]: readonly [number, number] = [0, 1]): Float32Array {
  const x = Float32Array.from(row, (v) => (v - lo) / (hi - lo));
  return varyUnit(name, x, image, rng).map((v) => lo + v * (hi - lo));
}

function varyUnit(name: Variation, x: Float32Array, [h, w]: readonly [number, number], rng: Rng): Float32Array {
  switch (name) {
    case 'shift_1':
    case 'shift_2': {
      const max = name === 'shift_1' ? 1 : 2;
      let dy = 0;
      let dx = 0;
      // At least one axis moves by exactly `max`: shift_2 is a 2-pixel shift, not a 0- or 1-pixel one.
      while (Math.max(Math.abs(dx), Math.abs(dy)) !== max) [dy, dx] = [randomInt(rng, 2 * max + 1) - max, randomInt(rng, 2 * max + 1) - max];
      return shift(x, h, w, dy, dx);
    }
    case 'blur':
      return convolve3(x, h, w, [1, 2, 1, 2, 4, 2, 1, 2, 1], 16);
    case 'thick_pen':
      return window2(x, h, w, Math.max);
    case 'thin_pen':
      return window2(x, h, w, Math.min);
    case 'grey_background':
      return Float32Array.from(x, (v) => 0.2 + 0.8 * v);
    case 'binarised':
      return Float32Array.from(x, (v) => (v > 0.5 ? 1 : 0));
    case 'faint':
      return Float32Array.from(x, (v) => 0.7 * v);
  }
}

function shift(x: ArrayLike<number>, h: number, w: number, dy: number, dx: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let c = 0; c < w; c++) {
      const sy = y - dy;
      const sx = c - dx;
      if (sy >= 0 && sy < h && sx >= 0 && sx < w) out[y * w + c] = x[sy * w + sx];
    }
  }
  return out;
}

/** A 3×3 kernel over the image, edges reflected. */
function convolve3(x: ArrayLike<number>, h: number, w: number, k: number[], norm: number): Float32Array {
  const out = new Float32Array(h * w);
  const at = (y: number, c: number) => x[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, c))];
  for (let y = 0; y < h; y++) {
    for (let c = 0; c < w; c++) {
      let s = 0;
      for (let i = 0; i < 9; i++) s += k[i] * at(y + ((i / 3) | 0) - 1, c + (i % 3) - 1);
      out[y * w + c] = s / norm;
    }
  }
  return out;
}

/** Max (thicker strokes) or min (thinner) over each pixel and its right, lower and lower-right neighbours. */
function window2(x: ArrayLike<number>, h: number, w: number, pick: (...v: number[]) => number): Float32Array {
  const out = new Float32Array(h * w);
  const at = (y: number, c: number) => (y < h && c < w ? x[y * w + c] : 0);
  for (let y = 0; y < h; y++) for (let c = 0; c < w; c++) out[y * w + c] = pick(at(y, c), at(y, c + 1), at(y + 1, c), at(y + 1, c + 1));
  return out;
}
