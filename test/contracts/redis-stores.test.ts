// Every store contract against the Redis stores, on a real redis-server (skipped, saying so, where
// it is not installed). Each store gets its own key prefix, so every test starts from empty.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../gateway/src/config/schema.js';
import { createStores } from '../../gateway/src/stores/create-stores.js';
import { RedisAuthFailureStore } from '../../gateway/src/stores/redis/redis-auth-failure-store.js';
import { RedisBudgetStore } from '../../gateway/src/stores/redis/redis-budget-store.js';
import { RedisConcurrencyStore } from '../../gateway/src/stores/redis/redis-concurrency-store.js';
import { RedisConnection } from '../../gateway/src/stores/redis/redis-connection.js';
import { RedisExtractionStore } from '../../gateway/src/stores/redis/redis-extraction-store.js';
import { RedisQuarantineStore } from '../../gateway/src/stores/redis/redis-quarantine-store.js';
import { RedisRateLimitStore } from '../../gateway/src/stores/redis/redis-rate-limit-store.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { describeAuthFailureStoreContract } from './auth-failure-store.contract.js';
import { describeBudgetStoreContract } from './budget-store.contract.js';
import { describeConcurrencyStoreContract } from './concurrency-store.contract.js';
import { describeExtractionStoreContract } from './extraction-store.contract.js';
import { onRealClock } from './harness.js';
import { describeQuarantineStoreContract } from './quarantine-store.contract.js';
import { describeRateLimitStoreContract } from './rate-limit-store.contract.js';

describe('redis stores', { skip: redisSkip }, () => {
  let redis: TestRedis;
  let n = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());
  const conn = (keyPrefix = `t${++n}:`) => RedisConnection.open({ url: redis.url, keyPrefix, commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 });

  describeRateLimitStoreContract('redis', async () => onRealClock(new RedisRateLimitStore(await conn())));
  describeConcurrencyStoreContract('redis', async () => onRealClock(new RedisConcurrencyStore(await conn(), 60_000)));
  describeQuarantineStoreContract('redis', async () => onRealClock(new RedisQuarantineStore(await conn())));
  describeAuthFailureStoreContract('redis', async () => onRealClock(new RedisAuthFailureStore(await conn())));
  describeExtractionStoreContract('redis', async () => {
    const keyPrefix = `t${++n}:`;
    return onRealClock(new RedisExtractionStore(await conn(keyPrefix), { maxPrincipals: 64, maxSamplesPerPrincipal: 256, idleMs: 60_000, keyPrefix, updateDeadlineMs: 10_000 }));
  });

  describeBudgetStoreContract('redis', async () => onRealClock(new RedisBudgetStore(await conn())));

  test('budgets hold across replicas: one secret, one count', async () => {
    const [a, b] = [new RedisBudgetStore(await conn('budget-shared:')), new RedisBudgetStore(await conn('budget-shared:'))];
    const [sa, sb] = await Promise.all([a.secret(), b.secret()]);
    assert.deepEqual(sa, sb, 'both replicas digest rows with the same secret');
    const row = (i: number) => Buffer.from(`${i}`.padStart(16, '0'));
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).add(['mnist\u0000owner\u0000team'], [row(i % 30)], 60_000, [100])));
    assert.deepEqual(await a.add(['mnist\u0000owner\u0000team'], [], 60_000, [100]), [], 'nothing to add: no round trip');
    assert.deepEqual(await b.add(['mnist\u0000owner\u0000team'], [row(0)], 60_000, [100]), [{ before: 30, after: 30 }], '30 distinct rows, whichever replica saw them');
    await Promise.all([a.close(), b.close()]);
  });

  test('a hung server (SIGSTOP): budget counts of many callers at once fail within the command timeout, and count again once it answers', async () => {
    const c = await RedisConnection.open({ url: redis.url, keyPrefix: 'bhung:', commandTimeoutMs: 200, connectTimeoutMs: 2_000 });
    const store = new RedisBudgetStore(c);
    await store.secret();
    redis.pause();
    try {
      const started = Date.now();
      const done = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => store.add([`p${i}`], [Buffer.alloc(16, i)], 60_000, [100])));
      const took = Date.now() - started;
      assert.ok(done.every((d) => d.status === 'rejected'), 'all fail (on_store_failure then decides)');
      assert.ok(took < 1_500, `all 30 within ${took} ms`);
    } finally {
      redis.resume();
    }
    try {
      const deadline = Date.now() + 3_000;
      let after: Awaited<ReturnType<typeof store.add>> | undefined;
      while (!after && Date.now() < deadline) after = await store.add(['p0'], [Buffer.alloc(16, 0)], 60_000, [100]).catch(() => undefined);
      // A timed-out add may still have reached the server: either way the row counts once, never twice.
      assert.equal(after?.[0].after, 1, JSON.stringify(after));
    } finally {
      await store.close();
    }
  });

  test('config chooses them, one connection for all; close lets it go', async () => {
    const store = { kind: 'redis', url: redis.url, key_prefix: 'cfg:' };
    const config = configSchema.parse({ limits: { store }, screening: { store }, auth: { failures: { store } } });
    const stores = await createStores(config);
    assert.deepEqual([stores.rateLimits, stores.concurrency, stores.quarantine, stores.extraction, stores.authFailures].map((s) => s.kind), Array(5).fill('redis'));
    await stores.quarantine.add('alice', 60_000, 'test');
    assert.equal((await stores.quarantine.check('alice'))?.reason, 'test');
    await stores.close();
  });

  test('a replica sees what another did: two connections, one server', async () => {
    const [a, b] = [new RedisQuarantineStore(await conn('shared:')), new RedisQuarantineStore(await conn('shared:'))];
    await a.add('mallory', 60_000, 'extraction:prada');
    assert.equal((await b.check('mallory'))?.reason, 'extraction:prada');
    const [ra, rb] = [new RedisRateLimitStore(await conn('shared:')), new RedisRateLimitStore(await conn('shared:'))];
    const quota = { points: 10, windowMs: 60_000 };
    const out = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? ra : rb).consume('alice', 1, quota)));
    assert.equal(out.filter((r) => r.ok).length, 10, 'a quota of 10 is exact across two replicas under concurrency');
    const [xa, xb] = await Promise.all(['xa', 'xb'].map(async () => new RedisExtractionStore(await conn('shared:'), { maxPrincipals: 64, maxSamplesPerPrincipal: 256, idleMs: 60_000, keyPrefix: 'shared:', updateDeadlineMs: 10_000 })));
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? xa : xb).update('eve', (st) => void st.queries++)));
    assert.equal(await xa.update('eve', (st) => st.queries), 40, 'no update lost between two replicas writing one caller at once');
    await Promise.all([a.close(), b.close(), ra.close(), rb.close(), xa.close(), xb.close()]);
  });

  test('a state planted by someone else who can reach the server is not trusted: the caller starts afresh, at once', async () => {
    const c = await conn('planted:');
    const store = new RedisExtractionStore(c, { maxPrincipals: 64, maxSamplesPerPrincipal: 128, idleMs: 60_000, keyPrefix: 'planted:', updateDeadlineMs: 10_000 });
    // A million members of zero features: decoding it naively allocates and loops for seconds.
    const meta = JSON.stringify({ queries: 5, classes: { 0: { n: 1_000_000, features: 0, memberDists: [], memberSeq: [], threshold: 0 } }, dists: [], distClasses: [], sinceTest: 0, times: [], nearDup: [], lowConf: [], outOfProfile: [] });
    await c.client.hset('x:mallory', 'v', 'forged', 'm', meta, 'x', Buffer.alloc(0));
    const started = Date.now();
    assert.equal(await store.update('mallory', (st) => st.queries), 0, 'an empty state, not the planted one');
    assert.ok(Date.now() - started < 500, `at once (${Date.now() - started} ms)`);
    assert.equal(await store.update('mallory', (st) => ++st.queries), 1, 'and the planted state is overwritten');
    await store.close();
  });

  test('a hung server (SIGSTOP): every queued update of one caller fails within its deadline, not one timeout after another', async () => {
    const c = await RedisConnection.open({ url: redis.url, keyPrefix: 'hung:', commandTimeoutMs: 200, connectTimeoutMs: 2_000 });
    const store = new RedisExtractionStore(c, { maxPrincipals: 64, maxSamplesPerPrincipal: 128, idleMs: 60_000, keyPrefix: 'hung:', updateDeadlineMs: 400 });
    redis.pause();
    try {
      const started = Date.now();
      const done = await Promise.allSettled(Array.from({ length: 20 }, () => store.update('busy', (st) => st.queries++)));
      const took = Date.now() - started;
      assert.ok(done.every((d) => d.status === 'rejected'), 'all fail (the policy then decides)');
      assert.ok(took < 1_500, `all 20 within ${took} ms (20 timeouts one after another would be 4 s)`);
      // The socket stays open: only the connection's PING says the server is not answering.
      const deadline = Date.now() + 3_000;
      while (c.ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(c.ready, false, 'a hung server is reported down (vigil_store_up 0)');
    } finally {
      redis.resume();
    }
    const deadline = Date.now() + 3_000;
    while (!c.ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.ready, true, 'and up again once it answers');
    await store.close();
  });

  test('an unreachable server fails the start, naming it without its password', async () => {
    const down = { kind: 'redis', url: 'redis://vigil:s3cret@127.0.0.1:1', connect_timeout_ms: 300 };
    await assert.rejects(createStores(configSchema.parse({ limits: { store: down } })), (err: Error) => /redis at redis:\/\/vigil:\*\*\*@127\.0\.0\.1:1 is not reachable/.test(err.message) && !err.message.includes('s3cret'));
  });

  test('a server that dies fails store calls within the command timeout; they work again when it is back', async () => {
    const changes: boolean[] = [];
    const connection = await RedisConnection.open({ url: redis.url, keyPrefix: 'crash:', commandTimeoutMs: 1_000, connectTimeoutMs: 2_000, onStateChange: (up) => changes.push(up) });
    const store = new RedisRateLimitStore(connection);
    const quota = { points: 5, windowMs: 60_000 };
    assert.equal((await store.consume('k', 1, quota)).ok, true);
    await redis.kill();
    const started = Date.now();
    await assert.rejects(store.consume('k', 1, quota));
    assert.ok(Date.now() - started < 2_000, 'fails fast, never hangs');
    await redis.restart();
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      back = await store.consume('k', 1, quota).then((r) => r.ok, () => false);
      if (!back) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(back, 'the store works again once the server is back');
    assert.deepEqual(changes, [false, true], 'the outage is reported once when it starts and once when it ends');
    await store.close();
    assert.deepEqual(changes, [false, true], 'closing on purpose is no outage');
  });
});
