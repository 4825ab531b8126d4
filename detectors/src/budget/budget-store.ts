// The state seam of the query-budget detector: distinct-row counters per key (model, scope, who,
// window). The memory store keeps HyperLogLog registers here; a shared store (Redis: PFADD and
// PFCOUNT) counts across replicas. test/contracts/budget-store.contract.ts is what any store must pass.
import { randomBytes } from 'node:crypto';
import { hllEstimate, hllInsert, newHll, type Hll } from './hyperloglog.js';

export interface BudgetStore {
  /** The config kind that selects this store (`screening.store.kind`). */
  readonly kind: string;
  /**
   * The secret rows are digested with before they are counted: every replica sharing the store
   * must get the same one, or one row would count once per replica.
   */
  secret(): Promise<Buffer>;
  /**
   * Adds the digests to every key's counter and resolves to each key's distinct count before and
   * after. A key not added to for `ttlMs` is forgotten. `limits` are the keys' budgets (a bounded
   * store evicts the counter furthest under its budget first).
   */
  add(keys: readonly string[], digests: readonly Buffer[], ttlMs: number, limits: readonly number[]): Promise<Counted[]>;
  /** Counters dropped to stay within bounds before their time (memory stores; never silent). */
  evictions(): number;
  close(): Promise<void>;
}

/** A key's distinct count before the add and after it. */
export interface Counted {
  before: number;
  after: number;
}

interface Counter {
  hll: Hll;
  expires: number;
  /** The last count, to evict the counter furthest from mattering first. */
  count: number;
  /** The budget it is held against, for the same. */
  limit: number;
}

/** How many of the least recently used counters eviction looks at, to drop the one furthest under its budget. */
const EVICTION_SAMPLE = 16;

/**
 * Counters in this process: 4 KiB each, at most `maxKeys` (default 4,096: 16 MiB). Past that, of
 * the 16 least recently used it drops the one furthest under its budget, so a flood of new
 * principals pushes out idle, harmless counters before a busy owner's or source's, and each drop
 * is counted (`vigil_screening_evictions_total`, alert VigilScreeningStateEvicted).
 */
export class MemoryBudgetStore implements BudgetStore {
  readonly kind = 'memory';
  private readonly counters = new Map<string, Counter>();
  private readonly key = randomBytes(32);
  private evicted = 0;

  constructor(
    private readonly maxKeys = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  async secret(): Promise<Buffer> {
    return this.key;
  }

  async add(keys: readonly string[], digests: readonly Buffer[], ttlMs: number, limits: readonly number[]): Promise<Counted[]> {
    const at = this.now();
    return keys.map((key, k) => {
      let c = this.counters.get(key);
      if (c) this.counters.delete(key);
      if (!c || c.expires <= at) c = { hll: newHll(), expires: 0, count: 0, limit: limits[k] ?? Infinity };
      const before = c.count;
      for (const d of digests) hllInsert(c.hll, d);
      c.expires = at + ttlMs;
      c.count = hllEstimate(c.hll);
      this.counters.set(key, c);
      if (this.counters.size > this.maxKeys) this.evictOne(at);
      return { before, after: c.count };
    });
  }

  private evictOne(at: number): void {
    let victim: string | undefined;
    let lowest = Infinity;
    let n = 0;
    for (const [key, c] of this.counters) {
      if (c.expires <= at) {
        this.counters.delete(key); // expired: not an eviction
        return;
      }
      const used = c.count / c.limit;
      if (used < lowest) {
        lowest = used;
        victim = key;
      }
      if (++n >= EVICTION_SAMPLE) break;
    }
    if (victim !== undefined) {
      this.counters.delete(victim);
      this.evicted++;
    }
  }

  evictions(): number {
    return this.evicted;
  }

  async close(): Promise<void> {}
}
