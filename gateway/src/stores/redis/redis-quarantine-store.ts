import type { QuarantineStore } from '../quarantine-store.js';
import type { RedisConnection } from './redis-connection.js';

const NOW = `local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)`;

// One key per quarantined caller (its reason, expiring with it) and one index of them scored by
// when each ends, for the count; both on server time, so replicas agree on when a quarantine ends.
const ADD = `${NOW}
local ends = now + tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left > 0 and now + left >= ends then return now + left end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
redis.call('ZADD', KEYS[2], ends, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return ends`;

const CHECK = `
local left = redis.call('PTTL', KEYS[1])
if left <= 0 then return false end
return {redis.call('GET', KEYS[1]), left}`;

const ACTIVE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`;

/** Quarantines in Redis: a caller quarantined through one replica is refused by all. Bounded by their TTLs. */
export class RedisQuarantineStore implements QuarantineStore {
  readonly kind = 'redis';
  private readonly addScript;
  private readonly checkScript;
  private readonly activeScript;

  constructor(private readonly conn: RedisConnection) {
    conn.use();
    this.addScript = conn.script('vigilQuarantineAdd', 2, ADD);
    this.checkScript = conn.script('vigilQuarantineCheck', 1, CHECK);
    this.activeScript = conn.script('vigilQuarantineActive', 1, ACTIVE);
  }

  async add(key: string, ttlMs: number, reason: string): Promise<number> {
    return (await this.addScript(`q:${key}`, INDEX, Math.max(1, Math.round(ttlMs)), reason, key)) as number;
  }

  async check(key: string): Promise<{ reason: string; msLeft: number } | undefined> {
    const out = (await this.checkScript(`q:${key}`)) as [string, number] | null;
    return out ? { reason: out[0], msLeft: out[1] } : undefined;
  }

  async active(): Promise<number> {
    return (await this.activeScript(INDEX)) as number;
  }

  close(): Promise<void> {
    return this.conn.release();
  }
}

const INDEX = 'q-index';
