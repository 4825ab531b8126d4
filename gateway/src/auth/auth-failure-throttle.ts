import type { VigilConfig } from '../config/schema.js';
import { parseIPv6 } from '../../../policies/src/cidr.js';
import { VigilError } from '../errors.js';
import type { AuthFailureStore, FailureRule } from '../stores/auth-failure-store.js';
import { MemoryAuthFailureStore } from '../stores/memory-auth-failure-store.js';

/**
 * Repeated authentication failures are slowed (each answer delayed a little more), then blocked
 * for a while: guessing keys or replaying tokens gets expensive fast.
 *
 * Failures count under two keys. The source address together with the identity the request
 * claims (see claimed-identity.ts) blocks at `block_after`: behind a load balancer one address is
 * many callers, and one attacker must not lock them all out. The address alone blocks at the much
 * higher `address_block_after`, so rotating claimed identities does not buy unlimited guesses.
 * The failure store (`auth.failures.store`) counts the failures and keeps the blocks; while it
 * knows nothing is blocked, the check every request makes costs nothing.
 */
export class AuthFailureThrottle {
  private readonly byIdentity: FailureRule;
  private readonly byAddress: FailureRule;

  constructor(
    private readonly cfg: VigilConfig['auth']['failures'],
    private readonly store: AuthFailureStore = new MemoryAuthFailureStore(),
  ) {
    this.byIdentity = { maxFailures: cfg.block_after, windowMs: cfg.window_s * 1000, blockMs: cfg.block_s * 1000 };
    this.byAddress = { maxFailures: cfg.address_block_after, windowMs: cfg.window_s * 1000, blockMs: cfg.block_s * 1000 };
  }

  /**
   * Throws AUTH_BLOCKED while the source, or the source with this claimed identity, is blocked.
   * `claimed` is only computed (a JWT payload decode) when something may be blocked at all.
   */
  async assertNotBlocked(source: string, claimed: () => string, now = Date.now()): Promise<void> {
    if (!this.store.maybeBlocked()) return;
    // Both at once: with a shared store that is one round trip (pipelined), not two.
    const from = sourceKey(source);
    const [address, identity] = await Promise.all([this.store.blockedUntil(`a ${from}`), this.store.blockedUntil(`i ${from} ${claimed()}`)]);
    this.check(address, now, 'this address');
    this.check(identity, now, 'this identity from this address');
  }

  private check(until: number | undefined, now: number, what: string): void {
    if (until === undefined || now >= until) return;
    const seconds = Math.max(1, Math.ceil((until - now) / 1000));
    throw new VigilError('AUTH_BLOCKED', `too many authentication failures from ${what}; retry in ${seconds} s`, { 'retry-after': String(seconds) });
  }

  /** Counts one failure; resolves after the slow-down delay the source has earned by now. */
  async recordFailure(source: string, claimed: string): Promise<void> {
    const from = sourceKey(source);
    const consumed = Math.max((await this.store.recordFailure(`i ${from} ${claimed}`, this.byIdentity)).failures, 0);
    await this.store.recordFailure(`a ${from}`, this.byAddress);
    const over = consumed - this.cfg.slow_after;
    if (over > 0) {
      await new Promise((r) => setTimeout(r, Math.min(over * this.cfg.slow_step_ms, this.cfg.slow_max_ms)));
    }
  }
}

/**
 * What failures are counted by: an IPv4 address as it is, an IPv6 address by its /64. One IPv6
 * host usually holds a whole /64, so counting single addresses would let it rotate through 2^64
 * of them for fresh budgets (and fill the store with their counters). IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`) is the IPv4 address.
 */
export function sourceKey(source: string): string {
  const v6 = source.includes(':') ? parseIPv6(source) : null;
  if (!v6) return source;
  if (v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return `${v6[12]}.${v6[13]}.${v6[14]}.${v6[15]}`;
  const hex = Buffer.from(v6.subarray(0, 8)).toString('hex');
  return `${hex.slice(0, 4)}:${hex.slice(4, 8)}:${hex.slice(8, 12)}:${hex.slice(12, 16)}::/64`;
}
