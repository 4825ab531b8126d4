// What every quarantine store must do (gateway/src/stores/quarantine-store.ts).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { QuarantineStore } from '../../gateway/src/stores/quarantine-store.js';
import { together, type MakeStore, type StoreUnderTest } from './harness.js';

export function describeQuarantineStoreContract(name: string, make: MakeStore<QuarantineStore>): void {
  describe(`quarantine store contract: ${name}`, () => {
    let sut: StoreUnderTest<QuarantineStore>;
    let store: QuarantineStore;
    beforeEach(async () => {
      sut = await make();
      store = sut.store;
    });
    afterEach(() => store.close());

    test('a key never quarantined is not', async () => {
      assert.equal(await store.check('nobody'), undefined);
      assert.equal(await store.active(), 0);
    });

    test('add quarantines a key for its ttl, with its reason', async () => {
      await store.add('k', 10_000, 'squeeze:l1');
      const entry = await store.check('k');
      assert.ok(entry);
      assert.equal(entry.reason, 'squeeze:l1');
      assert.ok(entry.msLeft > 0 && entry.msLeft <= 10_000, `msLeft ${entry.msLeft}`);
      assert.equal(await store.active(), 1);
    });

    test('the quarantine ends with its ttl', async () => {
      await store.add('k', 100, 'profile:z2_mean');
      await store.add('long', 10_000, 'profile:z2_mean');
      await sut.advance(150);
      assert.equal(await store.check('k'), undefined);
      assert.equal(await store.active(), 1, 'only the one still in force');
      assert.ok(await store.check('long'));
    });

    test('a later, shorter add never shortens a quarantine in force, nor changes its reason', async () => {
      const first = await store.add('k', 10_000, 'first');
      assert.equal(await store.add('k', 100, 'second'), first, 'resolves to when the quarantine in force ends');
      await sut.advance(150);
      assert.equal((await store.check('k'))?.reason, 'first');
    });

    test('a later, longer add extends it, with the new reason', async () => {
      const first = await store.add('k', 100, 'first');
      const second = await store.add('k', 10_000, 'second');
      assert.ok(second > first);
      await sut.advance(150);
      assert.equal((await store.check('k'))?.reason, 'second');
    });

    test('keys are independent', async () => {
      await store.add('a', 10_000, 'x');
      assert.equal(await store.check('b'), undefined);
      await store.add('b', 100, 'y');
      await sut.advance(150);
      assert.equal((await store.check('a'))?.reason, 'x');
      assert.equal(await store.check('b'), undefined);
    });

    test('concurrent adds: every key is kept, and of one key the longest quarantine wins', async () => {
      await together(50, (i) => store.add(`k${i}`, 10_000, 'x'));
      assert.equal(await store.active(), 50);
      await together(50, (i) => store.add('one', 1_000 + 100 * ((i * 7) % 50), `r${(i * 7) % 50}`));
      assert.equal((await store.check('one'))?.reason, 'r49');
      assert.equal(await store.active(), 51);
    });
  });
}
