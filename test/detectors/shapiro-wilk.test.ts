import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shapiroWilk } from '../../detectors/src/extraction/shapiro-wilk.js';
import { mulberry32, type Rng } from '../../tools/train/prng.js';

function normal(rng: Rng): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function seeded(n: number, seed: number, draw: (rng: Rng) => number): number[] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () => draw(rng));
}

// Reference (W, p) from scipy.stats.shapiro (scipy 1.17) on exactly these values: the seeded sets
// were generated with this file's functions, written out as JSON and fed to scipy.
const REFERENCE: { name: string; x: number[]; w: number; p: number }[] = [
  { name: 'n=3', x: [2.1, 3.7, 9.4], w: 0.9048562372651119, p: 0.40113081513319493 },
  { name: 'n=5', x: [1.2, -0.4, 3.3, 0.8, 2.9], w: 0.9386771482970453, p: 0.6566013279958567 },
  { name: 'n=11 (odd, small-n branch)', x: [148, 154, 158, 160, 161, 162, 166, 170, 182, 195, 236], w: 0.7888146948631716, p: 0.006703814061898823 },
  {
    name: 'n=20',
    x: [0, 10.2, -2, -8.4, 6.1, 9.5, -5.2, -4.1, 11, 6.7, -6.6, 1.8, 13.6, 2.8, -5.5, 8.1, 13.6, -0.8, -1.9, 13.4],
    w: 0.9299922243961146,
    p: 0.15436361565467027,
  },
  { name: 'n=100 normal', x: seeded(100, 100, (r) => 5 + 2 * normal(r)), w: 0.994745859823505, p: 0.968037743475407 },
  { name: 'n=500 exponential', x: seeded(500, 500, (r) => -Math.log(1 - r())), w: 0.7489189667846474, p: 7.487264420130958e-27 },
  { name: 'n=5000 normal', x: seeded(5000, 5000, normal), w: 0.999593852147842, p: 0.4008309957889402 },
];

describe('shapiroWilk (Royston AS R94)', () => {
  for (const ref of REFERENCE) {
    it(`agrees with scipy.stats.shapiro: ${ref.name}`, () => {
      const { w, p } = shapiroWilk(ref.x);
      assert.ok(Math.abs(w - ref.w) < 1e-6, `W ${w} vs scipy ${ref.w}`);
      assert.ok(Math.abs(p - ref.p) <= 1e-4 * ref.p, `p ${p} vs scipy ${ref.p}`);
    });
  }

  it('ignores order, shift and scale', () => {
    const x = REFERENCE[4].x;
    const base = shapiroWilk(x);
    const moved = shapiroWilk(x.map((v) => 1e4 + 3 * v).reverse());
    assert.ok(Math.abs(base.w - moved.w) < 1e-9);
    assert.ok(Math.abs(base.p - moved.p) < 1e-7);
  });

  it('reads a bimodal sample as non-normal', () => {
    const x = seeded(200, 7, (r) => (r() < 0.8 ? 1 + 0.1 * normal(r) : 8 + normal(r)));
    const { w, p } = shapiroWilk(x);
    assert.ok(w < 0.7 && p < 1e-10, `W ${w} p ${p}`);
  });

  it('returns W = 1, p = 1 for zero range, as scipy does', () => {
    assert.deepEqual(shapiroWilk([2, 2, 2, 2, 2]), { w: 1, p: 1 });
  });

  it('refuses n outside 3..5000 and non-finite values', () => {
    assert.throws(() => shapiroWilk([1, 2]), /3 <= n <= 5000/);
    assert.throws(() => shapiroWilk(new Float64Array(5001)), /most recent 5000/);
    assert.throws(() => shapiroWilk([1, Number.NaN, 3]), /not finite/);
  });
});
