import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { ConsumeResult, CounterState, Quota, RateLimitStore } from './rate-limit-store.js';

/**
 * Counters in this process, counted by rate-limiter-flexible's memory limiter (exact under
 * concurrency: each consume is one synchronous increment). Its types stay in this file. Expired
 * windows are dropped by the limiter's own timers, so memory follows the callers active in a window.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly kind = 'memory';
  private readonly limiters = new Map<string, RateLimiterMemory>();

  async consume(key: string, cost: number, quota: Quota): Promise<ConsumeResult> {
    const limiter = this.limiterFor(quota);
    try {
      const res = await limiter.consume(key, cost);
      return { ok: true, consumed: res.consumedPoints, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      // rate-limiter-flexible keeps the points of a refused consume; this store's contract takes none.
      await limiter.reward(key, cost);
      const consumed = err.consumedPoints - cost;
      return { ok: false, consumed, remaining: Math.max(0, quota.points - consumed), resetMs: err.msBeforeNext };
    }
  }

  async refund(key: string, cost: number, quota: Quota): Promise<void> {
    await this.limiterFor(quota).reward(key, cost);
  }

  async get(key: string, quota: Quota): Promise<CounterState> {
    const res = await this.limiterFor(quota).get(key);
    // A window that has ended but whose timer has not yet run is as good as gone.
    if (!res || res.msBeforeNext <= 0) return { consumed: 0, remaining: quota.points, resetMs: 0 };
    return { consumed: res.consumedPoints, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
  }

  async close(): Promise<void> {}

  private limiterFor(quota: Quota): RateLimiterMemory {
    const id = `${quota.points}/${quota.windowMs}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterMemory({ keyPrefix: `vigil:${id}`, points: quota.points, duration: quota.windowMs / 1000 });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }
}
