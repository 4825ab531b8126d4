// The squeezers of feature squeezing (Xu, Evans, Qi, NDSS 2018), with the numerics of the
// paper's reference code (numpy's rint, scipy.ndimage.median_filter with mode='reflect') so the
// published thresholds and ours mean the same thing. Hand-written: they run in the pool on every
// inference row, and no library gives these exact semantics on flat float32 rows.

import type { Rng } from './squeeze-rng.js';

export const SQUEEZERS = ['bit_depth_1', 'bit_depth_2', 'bit_depth_3', 'bit_depth_4', 'bit_depth_5', 'median_2x2', 'median_3x3'] as const;
export type SqueezerName = (typeof SQUEEZERS)[number];

/** Round half to even, as numpy's rint: 0.5 → 0, 1.5 → 2, 2.5 → 2. Math.round would give 1 and 3. */
export function rint(x: number): number {
  const r = Math.round(x);
  // Math.round rounds halves up; at an exact half pick the even neighbour instead.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * How far a randomised bit-depth squeezer moves its rounding point, in levels: at 1 bit on [0, 1]
 * the threshold is drawn from [0.35, 0.65] instead of sitting at 0.5. (Drawn per pixel, or wider,
 * it changed clean digits so much that calibration had to raise the threshold by a third, which
 * helped the adaptive attacker more than the randomness hurt it: see detectors/README.md.)
 */
export const BIT_JITTER = 0.15;

/**
 * Bit-depth reduction to `bits` bits over the value range [lo, hi]: each value snaps to one of
 * 2^bits evenly spaced levels. With 1 bit on [0,1] images, 0.5 itself rounds to 0 (half to even).
 * With `rng`, the rounding point is drawn afresh for each copy (±BIT_JITTER of a level), so an
 * attacker cannot aim a perturbation just short of a known threshold.
 */
export function reduceBitDepth(row: Float32Array, bits: number, [lo, hi]: readonly [number, number], rng?: Rng): Float32Array {
  const levels = 2 ** bits - 1;
  const width = hi - lo;
  const out = new Float32Array(row.length);
  const offset = rng ? 0.5 + BIT_JITTER * (2 * rng() - 1) : 0;
  for (let i = 0; i < row.length; i++) {
    const v = Math.min(Math.max((row[i] - lo) / width, 0), 1);
    const level = rng ? Math.min(levels, Math.floor(v * levels + offset)) : rint(v * levels);
    out[i] = lo + (level / levels) * width;
  }
  return out;
}

/**
 * Median smoothing with a size×size window over a height×width image, as
 * scipy.ndimage.median_filter(size=size, mode='reflect'): the window spans offsets
 * −⌊size/2⌋ … size−1−⌊size/2⌋ (so a 2×2 window covers the pixel, its upper and left
 * neighbours), edges reflect (d c b a | a b c d), and an even-sized window takes the upper of
 * its two middle values (rank ⌊n/2⌋), never their mean.
 *
 * With `rng`, an even window's anchor is drawn for each copy from the size² windows that contain
 * a pixel (not only scipy's), so the squeezed image differs per request in a way an attacker
 * cannot know in advance. (Drawn per pixel, it blurred clean digits: see reduceBitDepth.)
 */
export function medianSmooth(row: Float32Array, [height, width]: readonly [number, number], size: number, rng?: Rng): Float32Array {
  if (height * width !== row.length) throw new Error(`median smoothing: image ${height}x${width} does not hold ${row.length} values`);
  const out = new Float32Array(row.length);
  const before = Math.floor(size / 2);
  // A reflected, padded copy makes every window a fixed set of offsets: no per-pixel edge logic.
  // A random anchor can put the window up to size-1 pixels off on either side: pad for that.
  const pad = rng ? size - 1 : before;
  const pw = width + (rng ? 2 * (size - 1) : size - 1);
  const ph = height + (rng ? 2 * (size - 1) : size - 1);
  const padded = new Float64Array(ph * pw);
  for (let y = 0; y < ph; y++) {
    const src = reflect(y - pad, height) * width;
    for (let x = 0; x < pw; x++) padded[y * pw + x] = row[src + reflect(x - pad, width)];
  }
  // The top-left of pixel (y, x)'s window in the padded image: centred, or the drawn anchor. An
  // odd window stays centred: moving it shifts the whole image a pixel, and the model's answers
  // on clean digits moved so much that its threshold rose by over 40%.
  const random = rng && size % 2 === 0;
  const dy = random ? Math.floor(rng() * size) : rng ? before : 0;
  const dx = random ? Math.floor(rng() * size) : rng ? before : 0;
  const corner = (y: number, x: number) => (y + dy) * pw + x + dx;
  // This runs on every pixel of every screened row in the pool: the common windows get a fixed
  // selection network (a TypedArray#sort per pixel was ~40% of the pool's CPU on mnist).
  if (size === 2) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = corner(y, x);
        out[y * width + x] = upperMedian4(padded[i], padded[i + 1], padded[i + pw], padded[i + pw + 1]);
      }
    }
    return out;
  }
  if (size === 3) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = corner(y, x);
        const j = i + pw;
        const k = j + pw;
        out[y * width + x] = median9(padded[i], padded[i + 1], padded[i + 2], padded[j], padded[j + 1], padded[j + 2], padded[k], padded[k + 1], padded[k + 2]);
      }
    }
    return out;
  }
  const w = new Float64Array(size * size);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let n = 0;
      const i = corner(y, x);
      for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) w[n++] = padded[i + r * pw + c];
      w.sort();
      out[y * width + x] = w[Math.floor((size * size) / 2)];
    }
  }
  return out;
}

/** The upper middle of 4 values (rank 2 of 0…3): the larger of the two pairs' lesser maximum and greater minimum. */
function upperMedian4(a: number, b: number, c: number, d: number): number {
  const lo1 = a < b ? a : b;
  const hi1 = a < b ? b : a;
  const lo2 = c < d ? c : d;
  const hi2 = c < d ? d : c;
  const lesserHi = hi1 < hi2 ? hi1 : hi2;
  const greaterLo = lo1 > lo2 ? lo1 : lo2;
  return lesserHi > greaterLo ? lesserHi : greaterLo;
}

/** The median of 9 values by the classic 19-exchange selection network (Paeth, Graphics Gems). */
// prettier-ignore
function median9(p0: number, p1: number, p2: number, p3: number, p4: number, p5: number, p6: number, p7: number, p8: number): number {
  let t: number;
  // Each line orders one pair (a ≤ b); only the comparisons the median needs are made.
  if (p1 > p2) (t = p1), (p1 = p2), (p2 = t);
  if (p4 > p5) (t = p4), (p4 = p5), (p5 = t);
  if (p7 > p8) (t = p7), (p7 = p8), (p8 = t);
  if (p0 > p1) (t = p0), (p0 = p1), (p1 = t);
  if (p3 > p4) (t = p3), (p3 = p4), (p4 = t);
  if (p6 > p7) (t = p6), (p6 = p7), (p7 = t);
  if (p1 > p2) (t = p1), (p1 = p2), (p2 = t);
  if (p4 > p5) (t = p4), (p4 = p5), (p5 = t);
  if (p7 > p8) (t = p7), (p7 = p8), (p8 = t);
  if (p0 > p3) p3 = p0;
  if (p5 > p8) p5 = p8;
  if (p4 > p7) (t = p4), (p4 = p7), (p7 = t);
  if (p3 > p6) p6 = p3;
  if (p1 > p4) p4 = p1;
  if (p2 > p5) p2 = p5;
  if (p4 > p7) p4 = p7;
  if (p4 > p2) (t = p4), (p4 = p2), (p2 = t);
  if (p6 > p4) p4 = p6;
  if (p4 > p2) p4 = p2;
  return p4;
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

/** One squeezed copy of a row; with `rng`, the randomised variant of the squeezer. */
export function squeeze(name: SqueezerName, row: Float32Array, geo: SqueezeGeometry, rng?: Rng): Float32Array {
  if (name.startsWith('bit_depth_')) return reduceBitDepth(row, Number(name.slice('bit_depth_'.length)), geo.range, rng);
  if (!geo.image) throw new Error(`squeezer ${name} needs the image shape`);
  return medianSmooth(row, geo.image, name === 'median_2x2' ? 2 : 3, rng);
}
