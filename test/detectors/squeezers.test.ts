import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BIT_JITTER, medianSmooth, reduceBitDepth, rint } from '../../detectors/src/squeeze/squeezers.js';
import { secretRng, seededRng } from '../../detectors/src/squeeze/squeeze-rng.js';
import { poolScreenRows } from '../../detectors/src/squeeze/pool-screen.js';
import { squeezedBatch, squeezeScores } from '../../detectors/src/squeeze/squeeze-score.js';

// Reference values from numpy 2 / scipy 1.17 (the numerics of Xu et al.'s reference code):
//   np.rint(x * (2**b - 1)) / (2**b - 1)
//   scipy.ndimage.median_filter(img, size=k, mode='reflect')
const IMG = [
  [0, 0.2, 0.9, 0.1],
  [0.5, 1, 0.3, 0.7],
  [0.25, 0.75, 0.6, 0.05],
  [0.4, 0.8, 0.35, 0.15],
];
const SCIPY_MEDIAN_2 = [
  [0.0, 0.2, 0.9, 0.9],
  [0.5, 0.5, 0.9, 0.7],
  [0.5, 0.75, 0.75, 0.6],
  [0.4, 0.75, 0.75, 0.35],
];
const SCIPY_MEDIAN_3 = [
  [0.2, 0.3, 0.3, 0.3],
  [0.25, 0.5, 0.6, 0.3],
  [0.5, 0.5, 0.6, 0.3],
  [0.4, 0.4, 0.35, 0.15],
];
const f32 = (rows: number[][]) => Float32Array.from(rows.flat());

describe('squeezers: parity with numpy and scipy', () => {
  test('rint rounds halves to even, as numpy does (Math.round would round them up)', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 0.49, 0.51, 3].map(rint), [0, 2, 2, -0, -2, 0, 1, 3]);
  });

  test('bit-depth reduction matches np.rint(x * levels) / levels, 0.5 going to 0 at 1 bit', () => {
    const x = Float32Array.from([0.5, 0.25, 0.75, 0.49, 0.51, 0, 1]);
    assert.deepEqual(Array.from(reduceBitDepth(x, 1, [0, 1])), [0, 0, 1, 0, 1, 0, 1]);
    assert.deepEqual(Array.from(reduceBitDepth(x, 2, [0, 1])), [2 / 3, 1 / 3, 2 / 3, 1 / 3, 2 / 3, 0, 1].map(Math.fround));
    // Over another range (the 8x8 digits' 0..16): the same levels, scaled.
    assert.deepEqual(Array.from(reduceBitDepth(Float32Array.from([8, 7.9, 16]), 1, [0, 16])), [0, 0, 16]);
  });

  test('2x2 median: the window is the pixel, its upper and left neighbours; the upper middle value, not the mean', () => {
    assert.deepEqual(Array.from(medianSmooth(f32(IMG), [4, 4], 2)), Array.from(f32(SCIPY_MEDIAN_2)));
  });

  test('3x3 median with reflected edges', () => {
    assert.deepEqual(Array.from(medianSmooth(f32(IMG), [4, 4], 3)), Array.from(f32(SCIPY_MEDIAN_3)));
  });

  test('median smoothing removes an isolated pixel (what catches sparse attacks)', () => {
    const img = new Float32Array(25);
    img[12] = 1;
    assert.ok(medianSmooth(img, [5, 5], 2).every((v) => v === 0));
    assert.ok(medianSmooth(img, [5, 5], 3).every((v) => v === 0));
  });

  test('the selection networks (2x2, 3x3) agree with sorting every window, ties and edges included', () => {
    // The fast paths must be the same function as the definition: rank ⌊n/2⌋ of the sorted,
    // reflected window, on images of odd sizes with repeated values (where networks go wrong).
    const reflect = (i: number, n: number) => (i < 0 ? -i - 1 : i >= n ? 2 * n - 1 - i : i);
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let t = 0; t < 300; t++) {
      const [h, w] = [1 + (t % 6), 1 + ((t * 5) % 7)];
      const img = Float32Array.from({ length: h * w }, () => (t % 2 ? Math.floor(next() * 3) / 2 : next()));
      for (const size of [2, 3]) {
        const before = Math.floor(size / 2);
        const expected = new Float32Array(h * w);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const win: number[] = [];
            for (let dy = -before; dy < size - before; dy++) for (let dx = -before; dx < size - before; dx++) win.push(img[reflect(y + dy, h) * w + reflect(x + dx, w)]);
            expected[y * w + x] = win.sort((a, b) => a - b)[Math.floor((size * size) / 2)];
          }
        }
        assert.deepEqual(medianSmooth(img, [h, w], size), expected, `image ${t} (${h}x${w}), size ${size}`);
      }
    }
  });

  test('a row that does not fill the image is refused, not guessed', () => {
    assert.throws(() => medianSmooth(new Float32Array(15), [4, 4], 2), /does not hold 15 values/);
  });
});

describe('randomised squeezers', () => {
  test('1-bit: the rounding point is drawn per copy inside [0.5 - jitter, 0.5 + jitter]; values outside it never change', () => {
    const rng = seededRng([1, 2, 3, 4]);
    const x = Float32Array.from([0.5 - BIT_JITTER - 0.01, 0.5 + BIT_JITTER + 0.01, 0.5, 0, 1]);
    const middle = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const out = Array.from(reduceBitDepth(x, 1, [0, 1], rng));
      assert.deepEqual([out[0], out[1], out[3], out[4]], [0, 1, 0, 1]);
      middle.add(out[2]);
    }
    assert.deepEqual([...middle].sort(), [0, 1], '0.5 goes either way, depending on the draw');
  });

  test('2x2 median: each copy uses one of the four windows that contain a pixel; 3x3 stays centred', () => {
    const img = f32(IMG);
    const seen = new Set<string>();
    const rng = seededRng([9, 8, 7, 6]);
    for (let i = 0; i < 100; i++) {
      seen.add(Array.from(medianSmooth(img, [4, 4], 2, rng)).join());
      assert.deepEqual(medianSmooth(img, [4, 4], 3, rng), medianSmooth(img, [4, 4], 3));
    }
    // The four anchors give four different images here, scipy's among them.
    assert.equal(seen.size, 4);
    assert.ok(seen.has(Array.from(f32(SCIPY_MEDIAN_2)).join()));
  });

  test('keyed draws: the same row gets the same copies under one secret, and other copies under another', () => {
    const spec = { features: 16, squeezers: ['bit_depth_1', 'median_2x2'] as const, range: [0, 1] as [number, number], image: [4, 4] as [number, number], randomize: true, probabilities: 'p' };
    const rows = Array.from({ length: 40 }, (_, i) => Float32Array.from(f32(IMG), (v, k) => (k === 0 ? i / 100 : v)));
    const a = poolScreenRows(rows, { ...spec, squeezers: [...spec.squeezers], secret: '11'.repeat(32) });
    assert.deepEqual(poolScreenRows(rows, { ...spec, squeezers: [...spec.squeezers], secret: '11'.repeat(32) }), a);
    const b = poolScreenRows(rows, { ...spec, squeezers: [...spec.squeezers], secret: '22'.repeat(32) });
    assert.notDeepEqual(b, a);
    // -0 for 0, or a pixel nudged by one float32 step, is the same input to the model: the same draws.
    const twin = Float32Array.from(rows[0], (v, k) => (k === 5 && v === 0 ? -0 : k === 6 ? Math.fround(v + 1e-7) : v));
    const keyed = { ...spec, squeezers: [...spec.squeezers], secret: '11'.repeat(32) };
    assert.deepEqual(poolScreenRows([twin], keyed).slice(1), poolScreenRows([rows[0]], keyed).slice(1));
    // Within one secret, rows differ in their draws: across 40 rows, more than one 2x2 anchor and rounding point is used.
    const medians = new Set(rows.map((_, r) => Array.from(a[40 + r * 2 + 1].subarray(1)).join()));
    assert.ok(medians.size > 1);
  });

  test('a seeded generator repeats itself; the secret one is seeded afresh each time', () => {
    const a = seededRng([5, 6, 7, 8]);
    const b = seededRng([5, 6, 7, 8]);
    const xs = Array.from({ length: 5 }, () => a());
    assert.deepEqual(Array.from({ length: 5 }, () => b()), xs);
    assert.ok(xs.every((v) => v >= 0 && v < 1));
    assert.notDeepEqual(Array.from({ length: 4 }, secretRng()), Array.from({ length: 4 }, secretRng()));
  });
});

describe('squeeze score', () => {
  test('the batch holds the rows, then each row\u2019s squeezed copies; the score is the largest L1 distance', () => {
    const rows = [Float32Array.from([0.4, 0.6, 0.5, 0.5]), Float32Array.from([0, 1, 1, 0])];
    const batch = squeezedBatch(rows, ['bit_depth_1', 'median_2x2'], { range: [0, 1], image: [2, 2] });
    assert.equal(batch.length, 6);
    assert.deepEqual(Array.from(batch[2]), [0, 1, 0, 0]); // row 0, 1 bit (0.5 rounds to even: 0)
    assert.deepEqual(Array.from(batch[4]), [0, 1, 1, 0]); // row 1, 1 bit
    // Probabilities for the 6 rows: row 0 unstable under the median, row 1 stable.
    const probs = [[0.9, 0.1], [0.2, 0.8], [0.85, 0.15], [0.1, 0.9], [0.2, 0.8], [0.25, 0.75]];
    const scores = squeezeScores(probs, 2, ['bit_depth_1', 'median_2x2']);
    assert.deepEqual(scores.map((s) => s.by), ['median_2x2', 'median_2x2']);
    assert.ok(Math.abs(scores[0].score - 1.6) < 1e-12);
    assert.ok(Math.abs(scores[1].score - 0.1) < 1e-12);
  });
});
