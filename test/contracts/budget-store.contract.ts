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

    // HyperLogLog: small counts are estimates too, a row or two either way.
    const near = (n: number, exact: number) => Math.abs(n - exact) <= 2;
    const after = async (keys: string[], ds: Buffer[], ttl = 60_000) => (await s.store.add(keys, ds, ttl, keys.map(() => 1e9))).map((c) => c.after);

    test('a repeat counts once; each key counts its own; the count before the add comes back too', async () => {
      const [a, b] = await after(['a', 'b'], digests(0, 10));
      assert.ok(near(a, 10) && near(b, 10), `${a}, ${b}`);
      assert.deepEqual(await s.store.add(['a'], digests(0, 10), 60_000, [100]), [{ before: a, after: a }], 'the same ten rows again');
      const [more] = await after(['a'], digests(10, 5));
      assert.ok(near(more, 15), `${more}`);
      assert.deepEqual(await after(['b'], [digest(3)]), [b]);
    });

    test('large counts are within 3% (HyperLogLog); thousands of rows in one add', async () => {
      for (let i = 0; i < 10_000; i += 5_000) await after(['big'], digests(i, 5_000));
      const [n] = await after(['big'], [digest(0)]);
      assert.ok(Math.abs(n - 10_000) / 10_000 < 0.03, `counted ${n} of 10,000`);
    });

    test('a key is forgotten once its time is up', async () => {
      await after(['w'], digests(0, 7), 200);
      await s.advance(300);
      assert.deepEqual(await s.store.add(['w'], [digest(100)], 200, [100]), [{ before: 0, after: 1 }], 'a new window counts from zero');
    });

    test('the secret is 32 bytes and the same on every call', async () => {
      const a = await s.store.secret();
      assert.equal(a.length, 32);
      assert.deepEqual(await s.store.secret(), a);
    });
  });
}
