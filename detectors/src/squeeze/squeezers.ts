// The squeezers of feature squeezing (Xu, Evans, Qi, NDSS 2018), with the numerics of the
// paper's reference code (numpy's rint, scipy.ndimage.median_filter with mode='reflect') so the
// published thresholds and ours mean the same thing. Hand-written: they run in the pool on every
// inference row, and no library gives these exact semantics on flat float32 rows.
import type { SqueezerName } from '../detector-config.js';

/** Round half to even, as numpy's rint: 0.5 → 0, 1.5 → 2, 2.5 → 2. Math.round would give 1 and 3. */
export function rint(x: number): number {
  const r = Math.round(x);
  // Math.round rounds halves up; at an exact half pick the even neighbour instead.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Bit-depth reduction to `bits` bits over the value range [lo, hi]: each value snaps to one of
 * 2^bits evenly spaced levels. With 1 bit on [0,1] images, 0.5 itself rounds to 0 (half to even).
 */
export function reduceBitDepth(row: Float32Array, bits: number, [lo, hi]: readonly [number, number]): Float32Array {
  const levels = 2 ** bits - 1;
  const width = hi - lo;
  const out = new Float32Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const v = Math.min(Math.max((row[i] - lo) / width, 0), 1);
    out[i] = lo + (rint(v * levels) / levels) * width;
  }
  return out;
}

/**
 * Median smoothing with a size×size window over a height×width image, as
 * scipy.ndimage.median_filter(size=size, mode='reflect'): the window spans offsets
 * −⌊size/2⌋ … size−1−⌊size/2⌋ (so a 2×2 window covers the pixel, its upper and left
 * neighbours), edges reflect (d c b a | a b c d), and an even-sized window takes the upper of
 * its two middle values (rank ⌊n/2⌋), never their mean.
 */
export function medianSmooth(row: Float32Array, [height, width]: readonly [number, number], size: number): Float32Array {
  if (height * width !== row.length) throw new Error(`median smoothing: image ${height}x${width} does not hold ${row.length} values`);
  const out = new Float32Array(row.length);
  const window = new Float32Array(size * size);
  const before = Math.floor(size / 2);
  const rank = Math.floor((size * size) / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let n = 0;
      for (let dy = -before; dy < size - before; dy++) {
        const yy = reflect(y + dy, height);
        for (let dx = -before; dx < size - before; dx++) window[n++] = row[yy * width + reflect(x + dx, width)];
      }
      window.sort();
      out[y * width + x] = window[rank];
    }
  }
  return out;
}

/** scipy's 'reflect' (half-sample symmetric): −1 → 0, −2 → 1, n → n−1. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

export interface SqueezeGeometry {
  range: readonly [number, number];
  image?: readonly [number, number];
}

export function squeeze(name: SqueezerName, row: Float32Array, geo: SqueezeGeometry): Float32Array {
  if (name.startsWith('bit_depth_')) return reduceBitDepth(row, Number(name.slice('bit_depth_'.length)), geo.range);
  if (!geo.image) throw new Error(`squeezer ${name} needs the image shape`);
  return medianSmooth(row, geo.image, name === 'median_2x2' ? 2 : 3);
}
