// What every query-budget store must do (detectors/src/budget/budget-store.ts): count distinct
// digests per key, within HyperLogLog's error, forget a key after its time, and give every
// replica the same secret.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { BudgetStore } from '../../detectors/src/budget/budget-store.js';
import type { MakeStore, StoreUnderTest } from './harness.js';

const digest = (i: number) => createHash('sha256').update(`row ${i}`).digest().subarray(0, 16);
const digests = (from: number, n: number) => Array.from({ length: n }, (_, i) => digest(from + i));

export function describeBudgetStoreContract(name: string, make: MakeStore<BudgetStore>): void {
  describe(`budget store contract: ${name}`, () => {
    let s: StoreUnderTest<BudgetStore>;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(() => s.store.close());

    // HyperLogLog: two rows may share a register, so a small count can be one or two short, never over.
    const near = (n: number, exact: number) => n <= exact && n >= exact - 2;

    test('a repeat counts once; each key counts its own; small counts are within 2 under', async () => {
      const [a, b] = await s.store.add(['a', 'b'], digests(0, 10), 60_000, [100, 100]);
      assert.ok(near(a, 10) && near(b, 10), `${a}, ${b}`);
      assert.deepEqual(await s.store.add(['a'], digests(0, 10), 60_000, [100]), [a], 'the same ten rows again');
      const [more] = await s.store.add(['a'], digests(10, 5), 60_000, [100]);
      assert.ok(near(more, 15), `${more}`);
      assert.deepEqual(await s.store.add(['b'], [digest(3)], 60_000, [100]), [b]);
    });

    test('large counts are within 5% (HyperLogLog)', async () => {
      for (let i = 0; i < 20_000; i += 250) await s.store.add(['big'], digests(i, 250), 60_000, [1e9]);
      const [n] = await s.store.add(['big'], [digest(0)], 60_000, [1e9]);
      assert.ok(Math.abs(n - 20_000) / 20_000 < 0.05, `counted ${n} of 20,000`);
    });

    test('a key is forgotten once its time is up', async () => {
      await s.store.add(['w'], digests(0, 7), 200, [100]);
      await s.advance(300);
      assert.deepEqual(await s.store.add(['w'], [digest(100)], 200, [100]), [1], 'a new window counts from zero');
    });

    test('the secret is 32 bytes and the same on every call', async () => {
      const a = await s.store.secret();
      assert.equal(a.length, 32);
      assert.deepEqual(await s.store.secret(), a);
    });
  });
}
