import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { VigilConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';

/**
 * Repeated authentication failures from one source address are slowed (each answer delayed a
 * little more), then blocked for a while: guessing keys or replaying tokens gets expensive fast.
 */
export class AuthFailureThrottle {
  private readonly failures: RateLimiterMemory;

  constructor(private readonly cfg: VigilConfig['auth']['failures']) {
    this.failures = new RateLimiterMemory({ points: cfg.block_after, duration: cfg.window_s, blockDuration: cfg.block_s });
  }

  /** Throws AUTH_BLOCKED while the source is blocked. */
  async assertNotBlocked(source: string): Promise<void> {
    const state = await this.failures.get(source);
    if (state && state.consumedPoints > this.cfg.block_after) throw blocked(state);
  }

  /** Counts one failure; resolves after the slow-down delay the source has earned by now. */
  async recordFailure(source: string): Promise<void> {
    let consumed: number;
    try {
      consumed = (await this.failures.consume(source, 1)).consumedPoints;
    } catch (err) {
      if (err instanceof RateLimiterRes) consumed = err.consumedPoints;
      else throw err;
    }
    const over = consumed - this.cfg.slow_after;
    if (over > 0) {
      await new Promise((r) => setTimeout(r, Math.min(over * this.cfg.slow_step_ms, this.cfg.slow_max_ms)));
    }
  }
}

function blocked(state: RateLimiterRes): VigilError {
  const seconds = Math.max(1, Math.ceil(state.msBeforeNext / 1000));
  return new VigilError('AUTH_BLOCKED', `too many authentication failures from this address; retry in ${seconds} s`, { 'retry-after': String(seconds) });
}
