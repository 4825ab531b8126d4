import type { ConsumeResult, CounterState, Quota, RateLimitStore } from '../rate-limit-store.js';
import type { RedisConnection } from './redis-connection.js';

// Hand-written rather than rate-limiter-flexible's RateLimiterRedis: that one counts a refused
// consume's points until it is rewarded, so across replicas a small consume arriving meanwhile is
// refused although it fits. One script checks and takes in a single atomic step, and its window
// is the key's TTL on the server, so replicas never disagree about time.
const CONSUME = `
local cost, points, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
local c = 0
if ttl > 0 then c = tonumber(redis.call('GET', KEYS[1]) or '0') else redis.call('DEL', KEYS[1]); ttl = 0 end
if c + cost > points then return {0, c, ttl} end
c = redis.call('INCRBY', KEYS[1], cost)
if ttl == 0 then redis.call('PEXPIRE', KEYS[1], window); ttl = window end
return {1, c, ttl}`;

// Never below zero: a refund after its window has ended gives nothing back to the next window.
const REFUND = `
if redis.call('PTTL', KEYS[1]) <= 0 then return 0 end
local c = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(ARGV[1])
if c < 0 then c = 0 end
redis.call('SET', KEYS[1], c, 'KEEPTTL')
return c`;

const GET = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return {0, 0} end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), ttl}`;

/** Rate-limit counters in Redis, shared by every replica: one key per caller, quota and window, expiring with its window. */
export class RedisRateLimitStore implements RateLimitStore {
  readonly kind = 'redis';
  private readonly consumeScript;
  private readonly refundScript;
  private readonly getScript;

  constructor(private readonly conn: RedisConnection) {
    conn.use();
    this.consumeScript = conn.script('vigilRateConsume', 1, CONSUME);
    this.refundScript = conn.script('vigilRateRefund', 1, REFUND);
    this.getScript = conn.script('vigilRateGet', 1, GET);
  }

  async consume(key: string, cost: number, quota: Quota): Promise<ConsumeResult> {
    const [ok, consumed, resetMs] = (await this.consumeScript(keyOf(key, quota), cost, quota.points, quota.windowMs)) as [number, number, number];
    return { ok: ok === 1, consumed, remaining: Math.max(0, quota.points - consumed), resetMs };
  }

  async refund(key: string, cost: number, quota: Quota): Promise<void> {
    await this.refundScript(keyOf(key, quota), cost);
  }

  async get(key: string, quota: Quota): Promise<CounterState> {
    const [consumed, resetMs] = (await this.getScript(keyOf(key, quota))) as [number, number];
    return { consumed, remaining: Math.max(0, quota.points - consumed), resetMs };
  }

  close(): Promise<void> {
    return this.conn.release();
  }
}

function keyOf(key: string, quota: Quota): string {
  return `rl:${quota.points}/${quota.windowMs}:${key}`;
}
