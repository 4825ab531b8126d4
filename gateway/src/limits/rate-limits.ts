import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Charge } from './limit-plan.js';
import type { LimiterStore } from './limiter-store.js';

/** Where a quota stands after a charge: for the RateLimit headers. */
export interface QuotaState {
  charge: Charge;
  remaining: number;
  resetMs: number;
}

export type LimitOutcome =
  | { ok: true; states: QuotaState[] }
  | { ok: false; reason: 'quota'; charge: Charge; retryAfterS: number; states: QuotaState[] }
  | { ok: false; reason: 'store'; error: unknown; states: QuotaState[] };

/**
 * Charges a request's quotas: all of them or none (a refused request gives back every point it
 * took, so one refused on items does not also eat a request point). Counting is done by
 * rate-limiter-flexible, whose memory store is exact under concurrency.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly inflight = new Map<string, number>();

  constructor(private readonly store: LimiterStore) {}

  async charge(charges: Charge[]): Promise<LimitOutcome> {
    const taken: { charge: Charge; limiter: RateLimiterAbstract }[] = [];
    const remaining: { charge: Charge; res: RateLimiterRes }[] = [];
    for (const charge of charges) {
      const limiter = this.limiterFor(charge);
      try {
        remaining.push({ charge, res: await limiter.consume(charge.key, charge.cost) });
        taken.push({ charge, limiter });
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          // rate-limiter-flexible keeps the points of a refused consume; a refused request costs nothing.
          taken.push({ charge, limiter });
        }
        await this.giveBack(taken);
        if (err instanceof RateLimiterRes) {
          const retryAfterS = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
          // What is left once this request's points are given back.
          const states = [
            ...remaining.map(({ charge: c, res }) => ({ charge: c, remaining: res.remainingPoints + c.cost, resetMs: res.msBeforeNext })),
            { charge, remaining: charge.quota - (err.consumedPoints - charge.cost), resetMs: err.msBeforeNext },
          ];
          return { ok: false, reason: 'quota', charge, retryAfterS, states };
        }
        return { ok: false, reason: 'store', error: err, states: [] };
      }
    }
    return { ok: true, states: remaining.map(({ charge, res }) => ({ charge, remaining: res.remainingPoints, resetMs: res.msBeforeNext })) };
  }

  /** Gives back charges already taken (a request refused at a later step costs nothing). */
  async refund(charges: Charge[]): Promise<void> {
    await this.giveBack(charges.map((charge) => ({ charge, limiter: this.limiterFor(charge) })));
  }

  /** Takes an in-flight slot; the caller must call the returned release once the request ends. */
  acquire(key: string, max: number): (() => void) | undefined {
    const current = this.inflight.get(key) ?? 0;
    if (current >= max) return undefined;
    this.inflight.set(key, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.inflight.get(key) ?? 1) - 1;
      if (n <= 0) this.inflight.delete(key);
      else this.inflight.set(key, n);
    };
  }

  private limiterFor(charge: Charge): RateLimiterAbstract {
    const id = `${charge.name}:${charge.quota}:${charge.windowS}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = this.store.limiter({ keyPrefix: `vigil:${id}`, points: charge.quota, duration: charge.windowS });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  private async giveBack(taken: { charge: Charge; limiter: RateLimiterAbstract }[]): Promise<void> {
    await Promise.all(taken.map(({ charge, limiter }) => limiter.reward(charge.key, charge.cost).catch(() => undefined)));
  }
}

/**
 * IETF draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` lists the quotas, `RateLimit`
 * the remaining units (r) and seconds to reset (t) of each.
 */
export function rateLimitHeaders(states: QuotaState[]): Record<string, string> {
  if (states.length === 0) return {};
  const policy = states.map(({ charge: c }) => `"${c.name}";q=${c.quota};w=${c.windowS}`).join(', ');
  const state = states
    .map(({ charge, remaining, resetMs }) => `"${charge.name}";r=${Math.max(0, Math.min(charge.quota, remaining))};t=${Math.max(0, Math.ceil(resetMs / 1000))}`)
    .join(', ');
  return { 'ratelimit-policy': policy, ratelimit: state };
}
