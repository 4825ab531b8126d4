// What every RateLimitStore must do, whatever it keeps its counts in (memory now, Redis in its own
// issue): a user's quota is exact under many concurrent callers, refunds give points back, keys
// and windows are apart, windows reset, and no more slots are handed out than the maximum.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RateLimitStore } from '../../gateway/src/limits/limiter-store.js';

let n = 0;
/** A key no earlier test of the same store has used. */
const fresh = (what: string) => `contract-${what}-${process.pid}-${++n}`;

export function describeRateLimitStoreContract(name: string, makeStore: () => RateLimitStore | Promise<RateLimitStore>): void {
  describe(`RateLimitStore contract: ${name}`, () => {
    test('50 concurrent adds of one point: counts 1..50, each exactly once', async () => {
      const store = await makeStore();
      const key = fresh('concurrent');
      const counts = await Promise.all(Array.from({ length: 50 }, () => store.add(key, 1, 60)));
      assert.deepEqual(counts.map((c) => c.consumed).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
      for (const c of counts) assert.ok(c.msBeforeReset > 0 && c.msBeforeReset <= 60_000, `reset in ${c.msBeforeReset} ms`);
    });

    test('a refund gives points back; keys and window lengths are counted apart', async () => {
      const store = await makeStore();
      const key = fresh('refund');
      await store.add(key, 7, 60);
      await store.refund(key, 3, 60);
      assert.equal((await store.add(key, 1, 60)).consumed, 5);
      assert.equal((await store.add(fresh('other'), 1, 60)).consumed, 1, 'another key starts at zero');
      assert.equal((await store.add(key, 2, 3600)).consumed, 2, 'another window length is another count');
    });

    test('a window resets once its time is up', async () => {
      const store = await makeStore();
      const key = fresh('reset');
      const first = await store.add(key, 4, 1);
      assert.equal(first.consumed, 4);
      await new Promise((r) => setTimeout(r, first.msBeforeReset + 50));
      assert.equal((await store.add(key, 1, 1)).consumed, 1);
    });

    test('slots: 40 concurrent takers of 5 slots get exactly 5; a release frees one, once', async () => {
      const store = await makeStore();
      const key = fresh('slots');
      const taken = await Promise.all(Array.from({ length: 40 }, () => store.acquireSlot(key, 5)));
      const held = taken.filter((r): r is () => void => r !== undefined);
      assert.equal(held.length, 5);
      held[0]();
      held[0](); // twice: must not free a second slot
      assert.ok(await store.acquireSlot(key, 5));
      assert.equal(await store.acquireSlot(key, 5), undefined);
      assert.ok(await store.acquireSlot(fresh('slots-other'), 5), 'another key has its own slots');
    });
  });
}
