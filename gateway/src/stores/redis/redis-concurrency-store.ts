import { randomUUID } from 'node:crypto';
import type { ConcurrencyStore, SlotLease } from '../concurrency-store.js';
import type { RedisConnection } from './redis-connection.js';

// A key's slots are a sorted set of lease ids scored by when each lease lapses (server time), so a
// replica that dies holding slots gives them back when its leases lapse instead of never.
const ACQUIRE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1`;

const HELD = `
local t = redis.call('TIME')
return redis.call('ZCOUNT', KEYS[1], '(' .. (t[1] * 1000 + math.floor(t[2] / 1000)), '+inf')`;

/**
 * In-flight slots in Redis, shared by every replica. A lease lapses after `leaseMs` (longer than
 * any request may take), the bound on how long a crashed replica's slots stay taken.
 */
export class RedisConcurrencyStore implements ConcurrencyStore {
  readonly kind = 'redis';
  private readonly acquireScript;
  private readonly heldScript;

  constructor(
    private readonly conn: RedisConnection,
    private readonly leaseMs: number,
  ) {
    conn.use();
    this.acquireScript = conn.script('vigilSlotAcquire', 1, ACQUIRE);
    this.heldScript = conn.script('vigilSlotHeld', 1, HELD);
  }

  async acquire(key: string, max: number): Promise<SlotLease | undefined> {
    const id = randomUUID();
    const ok = await this.acquireScript(keyOf(key), max, id, this.leaseMs);
    return ok === 1 ? { key, id } : undefined;
  }

  async release(lease: SlotLease): Promise<void> {
    await this.conn.client.zrem(keyOf(lease.key), lease.id);
  }

  async held(key: string): Promise<number> {
    return (await this.heldScript(keyOf(key))) as number;
  }

  close(): Promise<void> {
    return this.conn.release();
  }
}

function keyOf(key: string): string {
  return `slots:${key}`;
}
