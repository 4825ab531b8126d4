import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EwmaBaseline } from '../../gateway/src/alerts/ewma-baseline.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

test('EwmaBaseline: each update is judged against the baseline before it, then learnt', async (t) => {
  const cases: { name: string; alpha: number; warmup: number; counts: number[]; want: { mean: number; std: number; warm: boolean }[]; after: { mean: number; variance: number } }[] = [
    {
      name: 'constant zero stays at zero',
      alpha: 0.5,
      warmup: 2,
      counts: [0, 0, 0],
      want: [
        { mean: 0, std: 0, warm: false },
        { mean: 0, std: 0, warm: false },
        { mean: 0, std: 0, warm: true },
      ],
      after: { mean: 0, variance: 0 },
    },
    {
      // diff 4, mean 2, var 0.5·(0 + 4·2) = 4; diff 2, mean 3, var 0.5·(4 + 2·1) = 3
      name: 'alpha 0.5 by hand',
      alpha: 0.5,
      warmup: 1,
      counts: [4, 4],
      want: [
        { mean: 0, std: 0, warm: false },
        { mean: 2, std: 2, warm: true },
      ],
      after: { mean: 3, variance: 3 },
    },
    {
      name: 'alpha 1 forgets everything but the last interval',
      alpha: 1,
      warmup: 0,
      counts: [7, 3, 9],
      want: [
        { mean: 0, std: 0, warm: true },
        { mean: 7, std: 0, warm: true },
        { mean: 3, std: 0, warm: true },
      ],
      after: { mean: 9, variance: 0 },
    },
    {
      // mean 0.1·10 = 1, var 0.9·(0 + 10·1) = 9 → std 3
      name: 'alpha 0.1 after one burst',
      alpha: 0.1,
      warmup: 0,
      counts: [10, 0],
      want: [
        { mean: 0, std: 0, warm: true },
        { mean: 1, std: 3, warm: true },
      ],
      after: { mean: 0.9, variance: 0.9 * (9 + -1 * -0.1) },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const b = new EwmaBaseline({ alpha: c.alpha, warmupTicks: c.warmup });
      c.counts.forEach((count, i) => {
        const s = b.update(count);
        assert.equal(s.value, count);
        close(s.mean, c.want[i].mean, `mean before #${i}`);
        close(s.std, c.want[i].std, `std before #${i}`);
        assert.equal(s.warm, c.want[i].warm, `warm before #${i}`);
      });
      close(b.state().mean, c.after.mean, 'mean after');
      close(b.state().variance, c.after.variance, 'variance after');
      assert.equal(b.ticks, c.counts.length);
    });
  }
});

test('EwmaBaseline: a steady count converges to its mean with a small std', () => {
  const b = new EwmaBaseline({ alpha: 0.2, warmupTicks: 5 });
  for (let i = 0; i < 200; i++) b.update(i % 2 === 0 ? 9 : 11);
  assert.ok(Math.abs(b.mean - 10) < 0.2, `mean ${b.mean}`);
  assert.ok(b.std > 0.8 && b.std < 1.2, `std ${b.std}`);
});

test('EwmaBaseline: learn:false counts the tick but keeps mean and variance', () => {
  const b = new EwmaBaseline({ alpha: 0.5, warmupTicks: 2 }, { mean: 3, variance: 1, ticks: 1 });
  assert.equal(b.warm, false);
  const s = b.update(100, { learn: false });
  assert.deepEqual(s, { value: 100, mean: 3, std: 1, warm: false });
  assert.deepEqual(b.state(), { mean: 3, variance: 1, ticks: 2 });
  assert.equal(b.warm, true);
});

test('EwmaBaseline: rejects bad parameters and counts', () => {
  for (const alpha of [0, -0.1, 1.5, NaN]) assert.throws(() => new EwmaBaseline({ alpha, warmupTicks: 0 }), RangeError);
  assert.throws(() => new EwmaBaseline({ alpha: 0.1, warmupTicks: -1 }), RangeError);
  const b = new EwmaBaseline({ alpha: 0.1, warmupTicks: 0 });
  for (const count of [-1, NaN, Infinity]) assert.throws(() => b.update(count), RangeError);
});
