import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Principal } from '../../gateway/src/auth/principal.js';
import { planLimits, type LimitPlan, type LimitsPolicy } from '../../gateway/src/limits/limit-plan.js';
import { rateLimitHeaders, RateLimits } from '../../gateway/src/limits/rate-limits.js';
import { MemoryConcurrencyStore } from '../../gateway/src/stores/memory-concurrency-store.js';
import { MemoryRateLimitStore } from '../../gateway/src/stores/memory-rate-limit-store.js';
import type { RateLimitStore } from '../../gateway/src/stores/rate-limit-store.js';

const all = (p: LimitPlan) => [...p.admission, ...p.items];
const memoryLimits = () => new RateLimits(new MemoryRateLimitStore(), new MemoryConcurrencyStore());

const limits: LimitsPolicy = {
  mode: 'enforce',
  on_store_failure: 'fail_closed',
  default: { requests_per_minute: 10, items_per_minute: 100, concurrency: 2 },
  anonymous: { requests_per_minute: 5 },
  roles: {
    analyst: { requests_per_minute: 50, items_per_minute: 500, model_items_per_minute: 200, concurrency: 4 },
    bulk: { items_per_minute: 5000 },
  },
};
const alice: Principal = { id: 'user:alice', method: 'jwt', roles: ['analyst'] };

describe('limit plan (pure)', () => {
  test('an inference costs its batch in items, 1 in requests, per principal and per principal × model', () => {
    const plan = planLimits(limits, alice, '10.0.0.1', { model: 'mnist', items: 32 });
    assert.deepEqual(plan.admission, [{ name: 'requests', key: 'user:alice', quota: 50, windowS: 60, cost: 1 }], 'charged before the body is read');
    assert.deepEqual(plan.items, [
      { name: 'items', key: 'user:alice', quota: 500, windowS: 60, cost: 32 },
      { name: 'model_items', key: 'user:alice|mnist', quota: 200, windowS: 60, cost: 32 },
    ]);
    assert.deepEqual(plan.concurrency, { key: 'user:alice', max: 4 });
  });

  test('several roles: the most generous value of each quota; no role limits: the default', () => {
    const both = planLimits(limits, { ...alice, roles: ['analyst', 'bulk'] }, 'x', { model: 'mnist', items: 1 });
    assert.equal(all(both).find((c) => c.name === 'items')!.quota, 5000);
    assert.equal(all(both).find((c) => c.name === 'requests')!.quota, 50, "bulk names no request quota, so analyst's stands");
    const nobody = planLimits(limits, { id: 'user:bob', method: 'jwt', roles: ['viewer'] }, 'x', { items: 0 });
    assert.deepEqual(all(nobody).map((c) => `${c.name}:${c.quota}`), ['requests:10']);
  });

  test('a quota none of the roles sets falls back to the default: leaving it out never lifts it', () => {
    const bulk = planLimits(limits, { id: 'svc:b', method: 'api_key', roles: ['bulk'] }, 'x', { model: 'mnist', items: 1 });
    assert.deepEqual(all(bulk).map((c) => `${c.name}:${c.quota}`), ['requests:10', 'items:5000']);
    assert.deepEqual(bulk.concurrency, { key: 'svc:b', max: 2 });
  });

  test('role names that are Object.prototype properties find no limits of their own', () => {
    const sneaky = planLimits(limits, { id: 'user:eve', method: 'jwt', roles: ['constructor', '__proto__', 'toString'] }, 'x', { items: 5 });
    assert.deepEqual(all(sneaky).map((c) => `${c.name}:${c.quota}`), ['requests:10', 'items:100']);
  });

  test('anonymous callers are limited per source address', () => {
    const plan = planLimits(limits, { id: 'anonymous', method: 'anonymous', roles: [] }, '192.0.2.7', { items: 0 });
    assert.deepEqual(all(plan), [{ name: 'requests', key: 'anon:192.0.2.7', quota: 5, windowS: 60, cost: 1 }]);
  });
});

describe('rate limits', () => {
  test('exact under concurrency: with a quota of L and N ≫ L simultaneous requests, exactly L pass', async () => {
    const rl = memoryLimits();
    const L = 37;
    const plan = [{ name: 'requests' as const, key: 'user:x', quota: L, windowS: 60, cost: 1 }];
    const outcomes = await Promise.all(Array.from({ length: 500 }, () => rl.charge(plan)));
    assert.equal(outcomes.filter((o) => o.ok).length, L);
    const refused = outcomes.find((o) => !o.ok);
    assert.ok(refused && !refused.ok && refused.reason === 'quota' && refused.retryAfterS >= 1);
  });

  test('batch cost: a quota of 100 items admits 3 batches of 32 and refuses the fourth', async () => {
    const rl = memoryLimits();
    const plan = [{ name: 'items' as const, key: 'k', quota: 100, windowS: 60, cost: 32 }];
    const results = [];
    for (let i = 0; i < 4; i++) results.push((await rl.charge(plan)).ok);
    assert.deepEqual(results, [true, true, true, false]);
  });

  test('all or nothing: a request refused on items gives back the request point it took', async () => {
    const rl = memoryLimits();
    const plan = (items: number) => [
      { name: 'requests' as const, key: 'k', quota: 3, windowS: 60, cost: 1 },
      { name: 'items' as const, key: 'k', quota: 10, windowS: 60, cost: items },
    ];
    assert.equal((await rl.charge(plan(50))).ok, false);
    assert.equal((await rl.charge(plan(50))).ok, false);
    const oks = [];
    for (let i = 0; i < 3; i++) oks.push((await rl.charge(plan(1))).ok);
    assert.deepEqual(oks, [true, true, true], 'the refused big batches consumed no request points');
  });

  test('IETF RateLimit headers name each quota, what remains and when it resets', async () => {
    const rl = memoryLimits();
    const out = await rl.charge(all(planLimits(limits, alice, 'x', { model: 'mnist', items: 8 })));
    assert.ok(out.ok);
    const headers = rateLimitHeaders(out.states);
    assert.equal(headers['ratelimit-policy'], '"requests";q=50;w=60, "items";q=500;w=60, "model_items";q=200;w=60');
    assert.match(headers.ratelimit, /^"requests";r=49;t=(59|60), "items";r=492;t=(59|60), "model_items";r=192;t=(59|60)$/);
  });

  test('a failing counter store: the outcome says so, and what was already taken is given back', async () => {
    const counters = new MemoryRateLimitStore();
    const failing: RateLimitStore = {
      kind: 'failing',
      consume: (key, cost, quota) => (key.startsWith('items:') ? Promise.reject(new Error('store down')) : counters.consume(key, cost, quota)),
      refund: (key, cost, quota) => counters.refund(key, cost, quota),
      get: (key, quota) => counters.get(key, quota),
      close: () => counters.close(),
    };
    const rl = new RateLimits(failing, new MemoryConcurrencyStore());
    const plan = [
      { name: 'requests' as const, key: 'k', quota: 3, windowS: 60, cost: 1 },
      { name: 'items' as const, key: 'k', quota: 10, windowS: 60, cost: 2 },
    ];
    const out = await rl.charge(plan);
    assert.ok(!out.ok && out.reason === 'store' && (out.error as Error).message === 'store down');
    const oks = [];
    for (let i = 0; i < 4; i++) oks.push((await rl.charge(plan.slice(0, 1))).ok);
    assert.deepEqual(oks, [true, true, true, false], 'the request point was given back');
  });

  test('concurrency: a slot per request in flight, released exactly once', async () => {
    const rl = memoryLimits();
    const a = await rl.acquire('k', 2);
    const b = await rl.acquire('k', 2);
    assert.ok(a && b);
    assert.equal(await rl.acquire('k', 2), undefined);
    a();
    a(); // a second release must not free a slot it does not hold
    assert.ok(await rl.acquire('k', 2));
    assert.equal(await rl.acquire('k', 2), undefined);
  });
});
