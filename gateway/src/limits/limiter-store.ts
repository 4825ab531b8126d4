import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** A key's count in its current window, after an add. */
export interface WindowCount {
  consumed: number;
  msBeforeReset: number;
}

/** A taken concurrency slot; calling it more than once releases once. */
export type Release = () => void;

/**
 * Where rate-limit counters and concurrency slots live: the seam for sharing them between gateway
 * replicas. vigil's own interface (no library types cross it), asynchronous so a networked store
 * (Redis, in its own issue) satisfies it as the memory one does; both must pass
 * test/contracts/rate-limit-store.contract.ts.
 */
export interface RateLimitStore {
  readonly name: string;
  /**
   * Adds `points` to `key`'s count in its fixed window of `windowS` seconds and resolves to the
   * count after it. Never refuses: the caller compares with its quota and refunds what it gives back.
   */
  add(key: string, points: number, windowS: number): Promise<WindowCount>;
  /** Takes `points` back from `key`'s current window. */
  refund(key: string, points: number, windowS: number): Promise<void>;
  /** One of at most `max` slots for `key`, or undefined when all are taken. */
  acquireSlot(key: string, max: number): Promise<Release | undefined>;
}

/** Far above any quota: the memory limiter counts and never refuses; RateLimits decides. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

/** Counters in this process (rate-limiter-flexible's memory limiter, exact under concurrency). */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly name = 'memory';
  private readonly windows = new Map<number, RateLimiterMemory>();
  private readonly slots = new Map<string, number>();

  async add(key: string, points: number, windowS: number): Promise<WindowCount> {
    const res: RateLimiterRes = await this.window(windowS).consume(key, points);
    return { consumed: res.consumedPoints, msBeforeReset: res.msBeforeNext };
  }

  async refund(key: string, points: number, windowS: number): Promise<void> {
    await this.window(windowS).reward(key, points);
  }

  async acquireSlot(key: string, max: number): Promise<Release | undefined> {
    const current = this.slots.get(key) ?? 0;
    if (current >= max) return undefined;
    this.slots.set(key, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.slots.get(key) ?? 1) - 1;
      if (n <= 0) this.slots.delete(key);
      else this.slots.set(key, n);
    };
  }

  private window(windowS: number): RateLimiterMemory {
    let limiter = this.windows.get(windowS);
    if (!limiter) {
      limiter = new RateLimiterMemory({ keyPrefix: `vigil:${windowS}`, points: UNBOUNDED, duration: windowS });
      this.windows.set(windowS, limiter);
    }
    return limiter;
  }
}

/** The store `limits.store` names in vigil.yaml (memory for now; Redis arrives in its own issue). */
export function createRateLimitStore(config: { kind: 'memory' }): RateLimitStore {
  switch (config.kind) {
    case 'memory':
      return new MemoryRateLimitStore();
  }
}
