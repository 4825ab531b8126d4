// Every store contract against every memory store, and the config that chooses them. A shared
// store (Redis, a later issue) joins by adding its own `describe…Contract` lines beside these.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBudgetStore } from '../../detectors/src/budget/budget-store.js';
import { MemoryExtractionStore } from '../../detectors/src/extraction/index.js';
import { configSchema } from '../../gateway/src/config/schema.js';
import { createStores } from '../../gateway/src/stores/create-stores.js';
import { MemoryAuthFailureStore } from '../../gateway/src/stores/memory-auth-failure-store.js';
import { MemoryConcurrencyStore } from '../../gateway/src/stores/memory-concurrency-store.js';
import { MemoryQuarantineStore } from '../../gateway/src/stores/memory-quarantine-store.js';
import { MemoryRateLimitStore } from '../../gateway/src/stores/memory-rate-limit-store.js';
import { describeAuthFailureStoreContract } from './auth-failure-store.contract.js';
import { describeBudgetStoreContract } from './budget-store.contract.js';
import { describeConcurrencyStoreContract } from './concurrency-store.contract.js';
import { describeExtractionStoreContract } from './extraction-store.contract.js';
import { fakeClock, onRealClock } from './harness.js';
import { describeQuarantineStoreContract } from './quarantine-store.contract.js';
import { describeRateLimitStoreContract } from './rate-limit-store.contract.js';

// rate-limiter-flexible keeps its own time, so these two wait (at most 300 ms at a time).
describeRateLimitStoreContract('memory', () => onRealClock(new MemoryRateLimitStore()));
describeAuthFailureStoreContract('memory', () => onRealClock(new MemoryAuthFailureStore()));
describeConcurrencyStoreContract('memory', () => onRealClock(new MemoryConcurrencyStore()));
describeQuarantineStoreContract('memory', () => {
  const clock = fakeClock();
  return { store: new MemoryQuarantineStore({ now: clock.now }), advance: clock.advance };
});
// The bounds the gateway gives it (gateway/src/stores/create-stores.ts) hold more than these tests use.
describeExtractionStoreContract('memory', () => onRealClock(new MemoryExtractionStore({ maxPrincipals: 64, maxSamplesPerPrincipal: 256 })));

describeBudgetStoreContract('memory', () => {
  const clock = fakeClock();
  return { store: new MemoryBudgetStore(4096, clock.now), advance: clock.advance };
});

describe('memory budget store bounds', () => {
  test('past its bound it drops a counter, the one furthest under its budget among the least recent, and counts the drop', async () => {
    const store = new MemoryBudgetStore(4);
    const row = (i: number) => Buffer.alloc(16, i);
    await store.add(['busy-owner'], [row(1), row(2), row(3)], 60_000, [4]); // 3 of 4: near its budget
    for (const k of ['p1', 'p2', 'p3']) await store.add([k], [row(9)], 60_000, [1000]); // 1 of 1000
    assert.equal(store.evictions(), 0);
    await store.add(['p4'], [row(9)], 60_000, [1000]);
    assert.equal(store.evictions(), 1);
    assert.deepEqual(await store.add(['busy-owner'], [row(4)], 60_000, [4]), [{ before: 3, after: 4 }], 'the counter close to its budget was kept');
  });
});

describe('stores are chosen by config', () => {
  test('by default every store is the memory one', async () => {
    const config = configSchema.parse({});
    assert.deepEqual([config.limits.store, config.screening.store, config.auth.failures.store], [{ kind: 'memory' }, { kind: 'memory' }, { kind: 'memory' }]);
    const stores = await createStores(config);
    assert.ok(stores.rateLimits instanceof MemoryRateLimitStore);
    assert.ok(stores.concurrency instanceof MemoryConcurrencyStore);
    assert.ok(stores.quarantine instanceof MemoryQuarantineStore);
    assert.ok(stores.extraction instanceof MemoryExtractionStore);
    assert.ok(stores.authFailures instanceof MemoryAuthFailureStore);
    assert.deepEqual([stores.rateLimits, stores.concurrency, stores.quarantine, stores.extraction, stores.authFailures].map((s) => s.kind), Array(5).fill('memory'));
    await stores.close();
  });

  test('`kind: memory` may be written out; an unknown kind is a config error that names the key and the kinds', () => {
    assert.ok(configSchema.safeParse({ limits: { store: { kind: 'memory' } }, screening: { store: {} }, auth: { failures: { store: { kind: 'memory' } } } }).success);
    const bad = configSchema.safeParse({ limits: { store: { kind: 'dynamo' } }, screening: { store: { kind: 'etcd' } }, auth: { failures: { store: { kind: 'memcached' } } } });
    assert.ok(!bad.success);
    const problems = bad.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.deepEqual(problems, [
      'auth.failures.store.kind: unknown store kind "memcached" for the auth-failure counters; the kinds are: memory, redis',
      'limits.store.kind: unknown store kind "dynamo" for the rate-limit counters and in-flight slots; the kinds are: memory, redis',
      'screening.store.kind: unknown store kind "etcd" for the quarantines and the extraction state; the kinds are: memory, redis',
    ]);
    const extra = configSchema.safeParse({ limits: { store: { kind: 'memory', url: 'redis://x' } } });
    assert.ok(!extra.success && /url/.test(extra.error.issues[0].message), 'memory takes no other settings');
  });

  test('a config built by hand with an unknown kind is refused by the factory too', async () => {
    const config = configSchema.parse({});
    const hand = { ...config, limits: { store: { kind: 'dynamo' } } } as unknown as typeof config;
    await assert.rejects(createStores(hand), /limits\.store\.kind: unknown store kind "dynamo"/);
  });
});
