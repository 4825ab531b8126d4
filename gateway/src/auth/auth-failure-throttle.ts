import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { VigilConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';

/**
 * Repeated authentication failures are slowed (each answer delayed a little more), then blocked
 * for a while: guessing keys or replaying tokens gets expensive fast.
 *
 * Failures count under two keys. The source address together with the identity the request
 * claims (see claimed-identity.ts) blocks at `block_after`: behind a load balancer one address is
 * many callers, and one attacker must not lock them all out. The address alone blocks at the much
 * higher `address_block_after`, so rotating claimed identities does not buy unlimited guesses.
 * rate-limiter-flexible counts the failures; blocked keys are also kept here, so the check every
 * request makes is a synchronous Map lookup instead of an async store read.
 */
const MAX_TRACKED = 10_000;

export class AuthFailureThrottle {
  private readonly byIdentity: RateLimiterMemory;
  private readonly byAddress: RateLimiterMemory;
  private readonly blockedUntil = new Map<string, number>();

  constructor(private readonly cfg: VigilConfig['auth']['failures']) {
    this.byIdentity = new RateLimiterMemory({ points: cfg.block_after, duration: cfg.window_s, blockDuration: cfg.block_s });
    this.byAddress = new RateLimiterMemory({ points: cfg.address_block_after, duration: cfg.window_s, blockDuration: cfg.block_s });
  }

  /**
   * Throws AUTH_BLOCKED while the source, or the source with this claimed identity, is blocked.
   * `claimed` is only computed (a JWT payload decode) when something is blocked at all.
   */
  assertNotBlocked(source: string, claimed: () => string, now = Date.now()): void {
    if (this.blockedUntil.size === 0) return;
    this.check(`a ${source}`, now, 'this address');
    this.check(`i ${source} ${claimed()}`, now, 'this identity from this address');
  }

  private check(key: string, now: number, what: string): void {
    const until = this.blockedUntil.get(key);
    if (until === undefined) return;
    if (now >= until) {
      this.blockedUntil.delete(key);
      return;
    }
    const seconds = Math.max(1, Math.ceil((until - now) / 1000));
    throw new VigilError('AUTH_BLOCKED', `too many authentication failures from ${what}; retry in ${seconds} s`, { 'retry-after': String(seconds) });
  }

  /** Counts one failure; resolves after the slow-down delay the source has earned by now. */
  async recordFailure(source: string, claimed: string): Promise<void> {
    const consumed = Math.max(await this.count(this.byIdentity, `i ${source} ${claimed}`), 0);
    await this.count(this.byAddress, `a ${source}`);
    const over = consumed - this.cfg.slow_after;
    if (over > 0) {
      await new Promise((r) => setTimeout(r, Math.min(over * this.cfg.slow_step_ms, this.cfg.slow_max_ms)));
    }
  }

  private async count(limiter: RateLimiterMemory, key: string): Promise<number> {
    try {
      return (await limiter.consume(key, 1)).consumedPoints;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const now = Date.now();
      // Many attacking addresses (IPv6 makes them cheap) must not grow this without bound.
      if (this.blockedUntil.size >= MAX_TRACKED) {
        for (const [k, until] of this.blockedUntil) if (until <= now) this.blockedUntil.delete(k);
      }
      this.blockedUntil.set(key, now + err.msBeforeNext);
      return err.consumedPoints;
    }
  }
}
