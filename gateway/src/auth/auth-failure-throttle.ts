import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { VigilConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';

/**
 * Repeated authentication failures from one source address are slowed (each answer delayed a
 * little more), then blocked for a while: guessing keys or replaying tokens gets expensive fast.
 * rate-limiter-flexible counts the failures; the blocked sources are also kept here, so the check
 * every request makes is one synchronous Map lookup instead of an async store read.
 */
const MAX_TRACKED = 10_000;

export class AuthFailureThrottle {
  private readonly failures: RateLimiterMemory;
  private readonly blockedUntil = new Map<string, number>();

  constructor(private readonly cfg: VigilConfig['auth']['failures']) {
    this.failures = new RateLimiterMemory({ points: cfg.block_after, duration: cfg.window_s, blockDuration: cfg.block_s });
  }

  /** Throws AUTH_BLOCKED while the source is blocked. */
  assertNotBlocked(source: string, now = Date.now()): void {
    const until = this.blockedUntil.get(source);
    if (until === undefined) return;
    if (now >= until) {
      this.blockedUntil.delete(source);
      return;
    }
    const seconds = Math.max(1, Math.ceil((until - now) / 1000));
    throw new VigilError('AUTH_BLOCKED', `too many authentication failures from this address; retry in ${seconds} s`, { 'retry-after': String(seconds) });
  }

  /** Counts one failure; resolves after the slow-down delay the source has earned by now. */
  async recordFailure(source: string): Promise<void> {
    let consumed: number;
    try {
      consumed = (await this.failures.consume(source, 1)).consumedPoints;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      consumed = err.consumedPoints;
      const now = Date.now();
      // Many attacking addresses (IPv6 makes them cheap) must not grow this without bound.
      if (this.blockedUntil.size >= MAX_TRACKED) {
        for (const [s, until] of this.blockedUntil) if (until <= now) this.blockedUntil.delete(s);
      }
      this.blockedUntil.set(source, now + err.msBeforeNext);
    }
    const over = consumed - this.cfg.slow_after;
    if (over > 0) {
      await new Promise((r) => setTimeout(r, Math.min(over * this.cfg.slow_step_ms, this.cfg.slow_max_ms)));
    }
  }
}
