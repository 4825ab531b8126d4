import { randomBytes } from 'node:crypto';
import type { BudgetStore, Counted } from '../../../../detectors/src/budget/budget-store.js';
import type { RedisConnection } from './redis-connection.js';

// Redis counts distinct elements itself (PFADD/PFCOUNT: HyperLogLog, 0.81% standard error, 12 KB
// per key at most), so a budget holds across replicas with one round trip per request.
// Digests go to PFADD 1,000 at a time: Lua's unpack() fails somewhere past 8,000 arguments.
const ADD = `
local counts = {}
for i, key in ipairs(KEYS) do
  local before = redis.call('PFCOUNT', key)
  for from = 2, #ARGV, 1000 do redis.call('PFADD', key, unpack(ARGV, from, math.min(from + 999, #ARGV))) end
  redis.call('PEXPIRE', key, ARGV[1])
  counts[2 * i - 1] = before
  counts[2 * i] = redis.call('PFCOUNT', key)
end
return counts`;

const SECRET = 'b-secret';

/** The query-budget counters in Redis, shared by every replica. */
export class RedisBudgetStore implements BudgetStore {
  readonly kind = 'redis';
  private readonly addScript;
  private shared: Promise<Buffer> | undefined;

  constructor(private readonly conn: RedisConnection) {
    conn.use();
    this.addScript = conn.script('vigilBudgetAdd', null, ADD);
  }

  /** One secret for every replica: the first to ask makes it (SET NX), the others read it. Kept in the process after. */
  secret(): Promise<Buffer> {
    this.shared ??= (async () => {
      await this.conn.client.set(SECRET, randomBytes(32), 'NX');
      const value = await this.conn.client.getBuffer(SECRET);
      if (!value || value.length !== 32) throw new Error('the query-budget secret in Redis is missing or not 32 bytes');
      return value;
    })().catch((err: unknown) => {
      this.shared = undefined; // a failed read is tried again on the next request
      throw err;
    });
    return this.shared;
  }

  async add(keys: readonly string[], digests: readonly Buffer[], ttlMs: number, _limits?: readonly number[]): Promise<Counted[]> {
    if (keys.length === 0 || digests.length === 0) return [];
    const flat = (await this.addScript(keys.length, ...keys.map((k) => `b:${k}`), ttlMs, ...digests)) as number[];
    return keys.map((_, i) => ({ before: flat[2 * i], after: flat[2 * i + 1] }));
  }

  /** Redis expires the counters itself (each lives a window); nothing is evicted here. */
  evictions(): number {
    return 0;
  }

  close(): Promise<void> {
    return this.conn.release();
  }
}
