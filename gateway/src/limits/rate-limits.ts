import type { Charge } from './limit-plan.js';
import type { Release, RateLimitStore } from './limiter-store.js';

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
 * took, so one refused on items does not also eat a request point). The store counts; this
 * decides against each quota.
 */
export class RateLimits {
  constructor(private readonly store: RateLimitStore) {}

  async charge(charges: Charge[]): Promise<LimitOutcome> {
    const taken: Charge[] = [];
    const states: QuotaState[] = [];
    for (const charge of charges) {
      let count;
      try {
        count = await this.store.add(counterKey(charge), charge.cost, charge.windowS);
      } catch (err) {
        await this.refund(taken);
        return { ok: false, reason: 'store', error: err, states: [] };
      }
      taken.push(charge);
      if (count.consumed > charge.quota) {
        // Refused: every point this request took is given back, this charge's too.
        await this.refund(taken);
        const retryAfterS = Math.max(1, Math.ceil(count.msBeforeReset / 1000));
        const given = states.map((s) => ({ ...s, remaining: s.remaining + s.charge.cost }));
        return { ok: false, reason: 'quota', charge, retryAfterS, states: [...given, { charge, remaining: charge.quota - (count.consumed - charge.cost), resetMs: count.msBeforeReset }] };
      }
      states.push({ charge, remaining: charge.quota - count.consumed, resetMs: count.msBeforeReset });
    }
    return { ok: true, states };
  }

  /** Gives back charges already taken (a request refused at a later step costs nothing). */
  async refund(charges: Charge[]): Promise<void> {
    await Promise.all(charges.map((c) => this.store.refund(counterKey(c), c.cost, c.windowS).catch(() => undefined)));
  }

  /** Takes an in-flight slot; the caller must call the returned release once the request ends. */
  acquire(key: string, max: number): Promise<Release | undefined> {
    return this.store.acquireSlot(`slots:${key}`, max);
  }
}

/** A quota's counter: a changed quota or window (a policy reload) starts a fresh count, as before. */
function counterKey(c: Charge): string {
  return `${c.name}:${c.quota}:${c.windowS}:${c.key}`;
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
