// Shapiro–Wilk normality test, Royston's Algorithm AS R94 (Applied Statistics 44(4), 1995).
// Hand-written because no maintained npm package implements it.
//
// Helper routines are the ones the R94 Fortran itself calls (AS 111 PPND for normal quantiles,
// AS 66 ALNORM for the normal tail), as scipy.stats.shapiro does, so W and p agree with scipy to
// rounding (see test/detectors/shapiro-wilk.test.ts).

export interface ShapiroWilk {
  /** The W statistic in (0, 1]; 1 is perfectly normal-looking. */
  w: number;
  /** Approximate p-value of normality (Royston's transform; exact for n = 3). */
  p: number;
}

export const SHAPIRO_MIN_N = 3;
/** R94's p-value approximation is validated up to here; callers pass their most recent 5000 values. */
export const SHAPIRO_MAX_N = 5000;

const C1 = [0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056];
const C2 = [0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
const C3 = [0.544, -0.39978, 0.025054, -6.714e-4];
const C4 = [1.3822, -0.77857, 0.062767, -0.0020322];
const C5 = [-1.5861, -0.31082, -0.083751, 0.0038915];
const C6 = [-0.4803, -0.082676, 0.0030302];
const G = [-2.273, 0.459];
const SMALL = 1e-19;

/**
 * W and its p-value for 3 <= n <= 5000 values (any order; not modified). Throws outside that range
 * or on a non-finite value. Zero range (all values equal): returns { w: 1, p: 1 } as scipy does
 * (R94 reports a fault there) — the test is meaningless for a point mass, so callers that care
 * (the extraction detector does: identical distances mean a mechanical sweep) check range first.
 */
export function shapiroWilk(values: ArrayLike<number>): ShapiroWilk {
  const n = values.length;
  if (n < SHAPIRO_MIN_N || n > SHAPIRO_MAX_N) {
    throw new Error(`shapiroWilk: needs ${SHAPIRO_MIN_N} <= n <= ${SHAPIRO_MAX_N} values, got ${n} (pass the most recent ${SHAPIRO_MAX_N})`);
  }
  const x = Float64Array.from(values as ArrayLike<number>);
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) throw new Error(`shapiroWilk: value ${i} is not finite`);
  x.sort();
  // Centre on (about) the median before scaling: keeps precision for data with a large offset (scipy gh-15777).
  const centre = x[n >> 1];
  for (let i = 0; i < n; i++) x[i] -= centre;
  const range = x[n - 1] - x[0];
  if (range < SMALL) return { w: 1, p: 1 };

  const a = coefficients(n);
  // Full antisymmetric coefficient vector: -a[i] at the low end, +a[i] at the mirrored high end.
  const half = n >> 1;
  const coef = (i: number): number => (i < half ? -a[i] : i >= n - half ? a[n - 1 - i] : 0);

  let sa = 0;
  let sx = 0;
  for (let i = 0; i < n; i++) {
    sa += coef(i);
    sx += x[i] / range;
  }
  sa /= n;
  sx /= n;
  let ssa = 0;
  let ssx = 0;
  let sax = 0;
  for (let i = 0; i < n; i++) {
    const asa = coef(i) - sa;
    const xsx = x[i] / range - sx;
    ssa += asa * asa;
    ssx += xsx * xsx;
    sax += asa * xsx;
  }
  // W as a squared correlation; w1 = 1 - W computed directly to avoid rounding when W is near 1.
  const ssassx = Math.sqrt(ssa * ssx);
  const w1 = ((ssassx - sax) * (ssassx + sax)) / (ssa * ssx);
  const w = 1 - w1;

  if (n === 3) {
    // Exact; W >= 0.75 in theory, clamp rounding below it (scipy gh-18322).
    if (w < 0.75) return { w: 0.75, p: 0 };
    return { w, p: Math.max(0, 1 - (6 / Math.PI) * Math.acos(Math.sqrt(w))) };
  }
  let y = Math.log(w1);
  let m: number;
  let s: number;
  if (n <= 11) {
    const gamma = poly(G, n);
    if (y >= gamma) return { w, p: SMALL };
    y = -Math.log(gamma - y);
    m = poly(C3, n);
    s = Math.exp(poly(C4, n));
  } else {
    const ln = Math.log(n);
    m = poly(C5, ln);
    s = Math.exp(poly(C6, ln));
  }
  return { w, p: alnormUpper((y - m) / s) };
}

/** The n/2 positive coefficients a_i for the lower half (R94's normalised approximation). */
function coefficients(n: number): Float64Array {
  const half = n >> 1;
  const a = new Float64Array(half);
  if (n === 3) {
    a[0] = Math.SQRT1_2;
    return a;
  }
  const an25 = n + 0.25;
  let summ2 = 0;
  for (let i = 0; i < half; i++) {
    a[i] = ppnd((i + 1 - 0.375) / an25);
    summ2 += a[i] * a[i];
  }
  summ2 *= 2;
  const ssumm2 = Math.sqrt(summ2);
  const rsn = 1 / Math.sqrt(n);
  const a1 = poly(C1, rsn) - a[0] / ssumm2;
  let first: number;
  let fac: number;
  if (n > 5) {
    first = 2;
    const a2 = -a[1] / ssumm2 + poly(C2, rsn);
    fac = Math.sqrt((summ2 - 2 * a[0] * a[0] - 2 * a[1] * a[1]) / (1 - 2 * a1 * a1 - 2 * a2 * a2));
    a[1] = a2;
  } else {
    first = 1;
    fac = Math.sqrt((summ2 - 2 * a[0] * a[0]) / (1 - 2 * a1 * a1));
  }
  a[0] = a1;
  for (let i = first; i < half; i++) a[i] = -a[i] / fac;
  return a;
}

/** c[0] + c[1] x + c[2] x^2 + ... */
function poly(c: readonly number[], x: number): number {
  let p = 0;
  for (let j = c.length - 1; j > 0; j--) p = (p + c[j]) * x;
  return c[0] + p;
}

/** AS 111 (Beasley & Springer 1977): normal quantile, about 7 significant digits. */
function ppnd(p: number): number {
  const q = p - 0.5;
  if (Math.abs(q) <= 0.42) {
    const r = q * q;
    return (q * (((-25.44106049637 * r + 41.39119773534) * r - 18.61500062529) * r + 2.50662823884)) /
      ((((3.13082909833 * r - 21.06224101826) * r + 23.08336743743) * r - 8.4735109309) * r + 1);
  }
  let r = q > 0 ? 1 - p : p;
  if (r <= 0) return 0;
  r = Math.sqrt(-Math.log(r));
  const v = (((2.32121276858 * r + 4.85014127135) * r - 2.29796479134) * r - 2.78718931138) / ((1.63706781897 * r + 3.54388924762) * r + 1);
  return q < 0 ? -v : v;
}

/** AS 66 (Hill 1973): upper tail of the standard normal, P(Z > z). */
function alnormUpper(z: number): number {
  let upper = true;
  if (!(z > 0)) {
    upper = false;
    z = -z;
  }
  if (!(z <= 7 || (upper && z <= 38))) return upper ? 0 : 1;
  const y = 0.5 * z * z;
  let t: number;
  if (z <= 1.28) {
    t = 0.5 - z * (0.398942280444 - (0.399903438504 * y) / (y + 5.75885480458 - 29.8213557808 / (y + 2.62433121679 + 48.6959930692 / (y + 5.92885724438))));
  } else {
    t = (0.398942280385 * Math.exp(-y)) /
      (z - 3.8052e-8 + 1.00000615302 / (z + 3.98064794e-4 + 1.98615381364 / (z - 0.151679116635 + 5.29330324926 / (z + 4.8385912808 - 15.1508972451 / (z + 0.742380924027 + 30.789933034 / (z + 3.99019417011))))));
  }
  return upper ? t : 1 - t;
}
