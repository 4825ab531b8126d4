// What every in-flight slot store must do (gateway/src/stores/concurrency-store.ts).
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ConcurrencyStore, SlotLease } from '../../gateway/src/stores/concurrency-store.js';
import { together, type MakeStore } from './harness.js';

export function describeConcurrencyStoreContract(name: string, make: MakeStore<ConcurrencyStore>): void {
  describe(`concurrency store contract: ${name}`, () => {
    let store: ConcurrencyStore;
    beforeEach(async () => {
      store = (await make()).store;
    });
    afterEach(() => store.close());

    test('a key holds up to max slots, then gets none', async () => {
      assert.equal(await store.held('k'), 0);
      const a = await store.acquire('k', 2);
      const b = await store.acquire('k', 2);
      assert.ok(a && b);
      assert.notEqual(a.id, b.id);
      assert.equal(await store.acquire('k', 2), undefined);
      assert.equal(await store.held('k'), 2);
    });

    test('release frees the slot; releasing the same lease again frees nothing more', async () => {
      const a = (await store.acquire('k', 2))!;
      const b = (await store.acquire('k', 2))!;
      await store.release(a);
      await store.release(a);
      assert.equal(await store.held('k'), 1);
      assert.ok(await store.acquire('k', 2), 'the freed slot is taken again');
      assert.equal(await store.acquire('k', 2), undefined, 'the second release freed no slot it did not hold');
      await store.release(b);
      await store.release(b);
      assert.equal(await store.held('k'), 1, 'never below the slots still held');
    });

    test('max is never exceeded under concurrent acquire: 50 simultaneous acquires with max 5 give exactly 5 slots', async () => {
      const leases = await together(50, () => store.acquire('k', 5));
      const got = leases.filter((l): l is SlotLease => l !== undefined);
      assert.equal(got.length, 5);
      assert.equal(new Set(got.map((l) => l.id)).size, 5, 'distinct leases');
      assert.equal(await store.held('k'), 5);
      await together(5, (i) => store.release(got[i]));
      assert.equal(await store.held('k'), 0);
    });

    test('max is never exceeded with acquires and releases interleaved, and every slot comes back', async () => {
      const max = 4;
      let inFlight = 0;
      let peak = 0;
      let served = 0;
      await together(60, async () => {
        for (let round = 0; round < 3; round++) {
          const lease = await store.acquire('k', max);
          if (!lease) {
            await tick();
            continue;
          }
          served++;
          peak = Math.max(peak, ++inFlight);
          assert.ok((await store.held('k')) <= max);
          await tick();
          inFlight--;
          await store.release(lease);
          if (round === 1) await store.release(lease); // a double release, as a close handler might do
        }
      });
      assert.ok(peak <= max, `peak ${peak}`);
      assert.ok(served >= max, `served ${served}`);
      assert.equal(await store.held('k'), 0);
    });

    test('keys are independent', async () => {
      await together(3, () => store.acquire('a', 3));
      assert.equal(await store.acquire('a', 3), undefined);
      const b = await store.acquire('b', 1);
      assert.ok(b, "another key's slots are its own");
      await store.release(b);
      assert.equal(await store.held('a'), 3, "releasing one key's slot frees none of another's");
    });
  });
}
