// What every auth-failure store must do (gateway/src/stores/auth-failure-store.ts).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { AuthFailureStore, FailureRule } from '../../gateway/src/stores/auth-failure-store.js';
import { together, type MakeStore, type StoreUnderTest } from './harness.js';

/** Three failures a minute, the fourth blocks for 150 ms. */
const RULE: FailureRule = { maxFailures: 3, windowMs: 60_000, blockMs: 150 };

export function describeAuthFailureStoreContract(name: string, make: MakeStore<AuthFailureStore>): void {
  describe(`auth-failure store contract: ${name}`, () => {
    let sut: StoreUnderTest<AuthFailureStore>;
    let store: AuthFailureStore;
    beforeEach(async () => {
      sut = await make();
      store = sut.store;
    });
    afterEach(() => store.close());

    /** `times` failures of `key`, one after another. */
    const fail = async (key: string, times: number, rule = RULE) => {
      const out = [];
      for (let i = 0; i < times; i++) out.push(await store.recordFailure(key, rule));
      return out;
    };

    test('a key with no failures is not blocked', async () => {
      assert.equal(await store.blockedUntil('k'), undefined);
    });

    test('up to maxFailures failures are counted, and do not block', async () => {
      const out = await fail('k', 3);
      assert.deepEqual(out.map((r) => r.failures), [1, 2, 3]);
      assert.ok(out.every((r) => r.blockedUntilMs === undefined));
      assert.equal(await store.blockedUntil('k'), undefined);
    });

    test('the failure past maxFailures blocks the key for blockMs', async () => {
      await fail('k', 3);
      const before = Date.now();
      const fourth = await store.recordFailure('k', RULE);
      assert.equal(fourth.failures, 4);
      assert.ok(fourth.blockedUntilMs !== undefined && fourth.blockedUntilMs > before && fourth.blockedUntilMs <= Date.now() + RULE.blockMs, `blockedUntilMs ${fourth.blockedUntilMs}`);
      const until = await store.blockedUntil('k');
      assert.ok(until !== undefined && Math.abs(until - fourth.blockedUntilMs) <= 20, `blockedUntil ${until}`);
      assert.equal(store.maybeBlocked(), true, 'never false while a key is blocked');
    });

    test('the block ends after blockMs, and the key starts afresh', async () => {
      await fail('k', 4);
      await sut.advance(200);
      assert.equal(await store.blockedUntil('k'), undefined);
      const again = await fail('k', 3);
      assert.deepEqual(again.map((r) => r.failures), [1, 2, 3]);
      assert.ok(again.every((r) => r.blockedUntilMs === undefined));
    });

    test('failures during a block do not lengthen it', async () => {
      const rule: FailureRule = { maxFailures: 3, windowMs: 60_000, blockMs: 250 };
      const first = (await fail('k', 4, rule))[3].blockedUntilMs!;
      await sut.advance(100);
      const during = await store.recordFailure('k', rule);
      assert.ok(during.blockedUntilMs !== undefined && during.blockedUntilMs <= first + 20, 'still blocked, until the same time');
      await sut.advance(200);
      assert.equal(await store.blockedUntil('k'), undefined);
    });

    test('failures in a window that has ended no longer count', async () => {
      const rule: FailureRule = { maxFailures: 3, windowMs: 150, blockMs: 60_000 };
      await fail('k', 3, rule);
      await sut.advance(200);
      const next = await fail('k', 3, rule);
      assert.deepEqual(next.map((r) => r.failures), [1, 2, 3]);
      assert.equal(await store.blockedUntil('k'), undefined);
      assert.ok((await store.recordFailure('k', rule)).blockedUntilMs, 'a fourth in the new window blocks');
    });

    test('keys are independent', async () => {
      await fail('a', 4);
      assert.ok(await store.blockedUntil('a'));
      assert.equal(await store.blockedUntil('b'), undefined);
      assert.deepEqual((await fail('b', 2)).map((r) => r.failures), [1, 2]);
    });

    test('exact under concurrency: of 50 simultaneous failures against maxFailures 20, exactly 20 leave the key unblocked', async () => {
      const rule: FailureRule = { maxFailures: 20, windowMs: 60_000, blockMs: 10_000 };
      const out = await together(50, () => store.recordFailure('k', rule));
      assert.equal(out.filter((r) => r.blockedUntilMs === undefined).length, 20);
      assert.ok(await store.blockedUntil('k'));
    });
  });
}
