import type { AuthFailureStore, FailureCount, FailureRule } from '../auth-failure-store.js';
import type { RedisConnection } from './redis-connection.js';

// Per key: a failure counter expiring with its window, and a block key expiring with the block.
// The failure past maxFailures sets the block and makes the counter end with it, so the key
// starts afresh when the block ends; failures during a block change nothing.
const RECORD = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return {tonumber(redis.call('GET', KEYS[1]) or ARGV[1]), now + left} end
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if c > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {c, now + tonumber(ARGV[3])}
end
return {c, -1}`;

const BLOCKED = `
local left = redis.call('PTTL', KEYS[1])
if left <= 0 then return -1 end
local t = redis.call('TIME')
return t[1] * 1000 + math.floor(t[2] / 1000) + left`;

/** Auth-failure counters and blocks in Redis: an attacker spreading guesses over replicas is counted as on one. */
export class RedisAuthFailureStore implements AuthFailureStore {
  readonly kind = 'redis';
  private readonly recordScript;
  private readonly blockedScript;

  constructor(private readonly conn: RedisConnection) {
    conn.use();
    this.recordScript = conn.script('vigilAuthFailure', 2, RECORD);
    this.blockedScript = conn.script('vigilAuthBlocked', 1, BLOCKED);
  }

  async recordFailure(key: string, rule: FailureRule): Promise<FailureCount> {
    const counter = `af:${rule.maxFailures}/${rule.windowMs}/${rule.blockMs}:${key}`;
    const [failures, until] = (await this.recordScript(counter, `afb:${key}`, rule.maxFailures, rule.windowMs, rule.blockMs)) as [number, number];
    return until >= 0 ? { failures, blockedUntilMs: until } : { failures };
  }

  async blockedUntil(key: string): Promise<number | undefined> {
    const until = (await this.blockedScript(`afb:${key}`)) as number;
    return until >= 0 ? until : undefined;
  }

  /** Another replica may have blocked any key at any time: only a round trip can tell. */
  maybeBlocked(): boolean {
    return true;
  }

  close(): Promise<void> {
    return this.conn.release();
  }
}
