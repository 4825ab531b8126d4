import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { AuthFailureStore, FailureCount, FailureRule } from './auth-failure-store.js';

/** Blocked keys tracked at most; past it the expired ones are dropped first. */
const MAX_TRACKED = 10_000;

/**
 * Failure counters in this process, counted by rate-limiter-flexible's memory limiter (its types
 * stay in this file). Blocked keys are also kept in a Map, so the check every request makes is a
 * Map lookup, and none at all while nothing is blocked.
 */
export class MemoryAuthFailureStore implements AuthFailureStore {
  readonly kind = 'memory';
  private readonly limiters = new Map<string, RateLimiterMemory>();
  private readonly blocked = new Map<string, number>();

  async recordFailure(key: string, rule: FailureRule): Promise<FailureCount> {
    try {
      return { failures: (await this.limiterFor(rule).consume(key, 1)).consumedPoints };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const now = Date.now();
      // Many attacking addresses (IPv6 makes them cheap) must not grow this without bound.
      if (this.blocked.size >= MAX_TRACKED) {
        for (const [k, until] of this.blocked) if (until <= now) this.blocked.delete(k);
      }
      const until = now + err.msBeforeNext;
      this.blocked.set(key, until);
      return { failures: err.consumedPoints, blockedUntilMs: until };
    }
  }

  async blockedUntil(key: string): Promise<number | undefined> {
    const until = this.blocked.get(key);
    if (until === undefined) return undefined;
    if (Date.now() >= until) {
      this.blocked.delete(key);
      return undefined;
    }
    return until;
  }

  maybeBlocked(): boolean {
    return this.blocked.size > 0;
  }

  async close(): Promise<void> {}

  private limiterFor(rule: FailureRule): RateLimiterMemory {
    const id = `${rule.maxFailures}/${rule.windowMs}/${rule.blockMs}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterMemory({ keyPrefix: `vigil:auth:${id}`, points: rule.maxFailures, duration: rule.windowMs / 1000, blockDuration: rule.blockMs / 1000 });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }
}
