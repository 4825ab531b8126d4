// What every extraction-state store must do (detectors/src/extraction/extraction-store.ts): keep
// each caller's recent query summaries, plain data, updated one at a time per key.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { emptyState, type ExtractionStore } from '../../detectors/src/extraction/index.js';
import { together, type MakeStore } from './harness.js';

export function describeExtractionStoreContract(name: string, make: MakeStore<ExtractionStore>): void {
  describe(`extraction store contract: ${name}`, () => {
    let store: ExtractionStore;
    beforeEach(async () => {
      store = (await make()).store;
    });
    afterEach(() => store.close());

    test("an unknown key starts from emptyState(), and update resolves to fn's result", async () => {
      const seen = await store.update('k', (s) => structuredClone(s));
      assert.deepEqual(seen, emptyState());
      assert.equal(await store.update('k', () => 42), 42);
    });

    test('what fn makes of the state is kept', async () => {
      await store.update('k', (s) => {
        s.queries = 5;
        s.times.push(1000, 2000);
        s.lowConf.push(1, 0);
      });
      assert.deepEqual(await store.update('k', (s) => [s.queries, s.times, s.lowConf]), [5, [1000, 2000], [1, 0]]);
    });

    test('plain data round-trips: Float32Array vectors, records by class, the last PRADA test', async () => {
      const prada = { w: 0.87, n: 120, degenerate: false, mean: 1.5, std: 0.25 };
      await store.update('k', (s) => {
        s.queries = 2;
        s.classes[3] = { members: [Float32Array.from([0.5, 1.5]), Float32Array.from([2, 3])], memberDists: [0, 1.25], memberSeq: [1, 2], threshold: 0.75 };
        s.dists.push(1.25);
        s.distClasses.push(3);
        s.prada = prada;
      });
      await store.update('k', (s) => {
        const g = s.classes[3];
        assert.ok(g.members.every((m) => m instanceof Float32Array), 'vectors stay Float32Array');
        assert.deepEqual(g.members.map((m) => Array.from(m)), [[0.5, 1.5], [2, 3]]);
        assert.deepEqual([g.memberDists, g.memberSeq, g.threshold], [[0, 1.25], [1, 2], 0.75]);
        assert.deepEqual([s.dists, s.distClasses, s.prada], [[1.25], [3], prada]);
      });
    });

    test('keys are independent, and size counts them', async () => {
      await store.update('a', (s) => void (s.queries = 7));
      assert.equal(await store.update('b', (s) => s.queries), 0);
      assert.equal(await store.update('a', (s) => s.queries), 7);
      assert.equal(await store.size(), 2);
    });

    test('delete forgets a key: it starts afresh', async () => {
      await store.update('a', (s) => void (s.queries = 7));
      await store.update('b', (s) => void (s.queries = 1));
      await store.delete('a');
      assert.equal(await store.size(), 1);
      assert.equal(await store.update('a', (s) => s.queries), 0);
      assert.equal(await store.update('b', (s) => s.queries), 1);
    });

    test('updates of one key are never lost: 50 simultaneous increments give 50', async () => {
      await together(50, () => store.update('k', (s) => void s.queries++));
      assert.equal(await store.update('k', (s) => s.queries), 50);
    });

    test("an update whose fn throws rejects with fn's error", async () => {
      await assert.rejects(
        store.update('k', () => {
          throw new Error('boom');
        }),
        /boom/,
      );
    });
  });
}
