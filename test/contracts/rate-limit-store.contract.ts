// What every rate-limit counter store must do (gateway/src/stores/rate-limit-store.ts): the memory
// store today, a shared one later, against the same tests.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Quota, RateLimitStore } from '../../gateway/src/stores/rate-limit-store.js';
import { together, type MakeStore, type StoreUnderTest } from './harness.js';

const MINUTE: Quota = { points: 20, windowMs: 60_000 };

export function describeRateLimitStoreContract(name: string, make: MakeStore<RateLimitStore>): void {
  describe(`rate-limit store contract: ${name}`, () => {
    let sut: StoreUnderTest<RateLimitStore>;
    let store: RateLimitStore;
    beforeEach(async () => {
      sut = await make();
      store = sut.store;
    });
    afterEach(() => store.close());

    test('a key never charged has its whole quota and no window open', async () => {
      assert.deepEqual(await store.get('fresh', MINUTE), { consumed: 0, remaining: 20, resetMs: 0 });
    });

    test('a consume takes its cost and says what remains and when the window ends', async () => {
      const r = await store.consume('k', 3, MINUTE);
      assert.equal(r.ok, true);
      assert.deepEqual([r.consumed, r.remaining], [3, 17]);
      assert.ok(r.resetMs > 0 && r.resetMs <= MINUTE.windowMs, `resetMs ${r.resetMs}`);
      const now = await store.get('k', MINUTE);
      assert.deepEqual([now.consumed, now.remaining], [3, 17]);
      assert.ok(now.resetMs > 0 && now.resetMs <= r.resetMs);
    });

    test('exact under concurrency: 50 simultaneous consumes against a quota of 20 give exactly 20 successes', async () => {
      const results = await together(50, () => store.consume('k', 1, MINUTE));
      assert.equal(results.filter((r) => r.ok).length, 20);
      assert.ok(results.filter((r) => !r.ok).every((r) => r.remaining === 0 && r.resetMs > 0));
      const after = await store.get('k', MINUTE);
      assert.deepEqual([after.consumed, after.remaining], [20, 0], 'the refused consumes took nothing');
    });

    test('exact under concurrency with costs: 50 simultaneous consumes of 3 against 20 give exactly 6', async () => {
      const results = await together(50, () => store.consume('k', 3, MINUTE));
      assert.equal(results.filter((r) => r.ok).length, 6);
      const after = await store.get('k', MINUTE);
      assert.deepEqual([after.consumed, after.remaining], [18, 2]);
    });

    test('a consume that does not fit is refused, takes nothing, and says where the counter stands', async () => {
      assert.equal((await store.consume('k', 15, MINUTE)).ok, true);
      const refused = await store.consume('k', 10, MINUTE);
      assert.equal(refused.ok, false);
      assert.deepEqual([refused.consumed, refused.remaining], [15, 5]);
      assert.ok(refused.resetMs > 0 && refused.resetMs <= MINUTE.windowMs, 'when to retry');
      assert.equal((await store.get('k', MINUTE)).consumed, 15);
      assert.equal((await store.consume('k', 5, MINUTE)).ok, true, 'what does fit is still taken');
    });

    test('a cost larger than the whole quota is refused and takes nothing', async () => {
      assert.equal((await store.consume('k', 21, MINUTE)).ok, false);
      const after = await store.get('k', MINUTE);
      assert.deepEqual([after.consumed, after.remaining], [0, 20]);
    });

    test('refunds restore: points given back can be taken again, and no more', async () => {
      assert.equal((await store.consume('k', 20, MINUTE)).ok, true);
      assert.equal((await store.consume('k', 1, MINUTE)).ok, false);
      await store.refund('k', 5, MINUTE);
      const restored = await store.get('k', MINUTE);
      assert.deepEqual([restored.consumed, restored.remaining], [15, 5]);
      const again = await together(8, () => store.consume('k', 1, MINUTE));
      assert.equal(again.filter((r) => r.ok).length, 5);
    });

    test('keys are independent', async () => {
      await together(25, () => store.consume('a', 1, MINUTE));
      const b = await store.consume('b', 20, MINUTE);
      assert.equal(b.ok, true, "another key's spent quota takes nothing from this one");
      await store.refund('b', 20, MINUTE);
      assert.equal((await store.get('a', MINUTE)).consumed, 20, "a refund of one key gives nothing to another");
    });

    test('the window resets: once it ends, the whole quota is back', async () => {
      const short: Quota = { points: 2, windowMs: 150 };
      assert.equal((await store.consume('k', 2, short)).ok, true);
      const refused = await store.consume('k', 1, short);
      assert.equal(refused.ok, false);
      assert.ok(refused.resetMs > 0 && refused.resetMs <= 150, `resetMs ${refused.resetMs}`);
      await sut.advance(200);
      const fresh = await store.consume('k', 1, short);
      assert.equal(fresh.ok, true);
      assert.deepEqual([fresh.consumed, fresh.remaining], [1, 1], 'a new window counts from zero');
    });

    test('the window is fixed from the first consume: later consumes do not extend it', async () => {
      const w: Quota = { points: 5, windowMs: 200 };
      await store.consume('k', 1, w);
      await sut.advance(120);
      const later = await store.consume('k', 1, w);
      assert.equal(later.ok, true);
      assert.ok(later.resetMs <= 80, `the window still ends 200 ms after the first consume (resetMs ${later.resetMs})`);
      await sut.advance(120);
      assert.equal((await store.get('k', w)).consumed, 0, 'both consumes were in the window that ended');
    });
  });
}
