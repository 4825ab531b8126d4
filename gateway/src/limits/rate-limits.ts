import type { ConcurrencyStore, SlotLease } from '../stores/concurrency-store.js';
import type { ConsumeResult, Quota, RateLimitStore } from '../stores/rate-limit-store.js';
import type { Charge } from './limit-plan.js';

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
 * took, so one refused on items does not also eat a request point). Counting is done by the
 * counter store (`limits.store`), exact under concurrency; in-flight slots by the slot store.
 */
export class RateLimits {
  constructor(
    private readonly counters: RateLimitStore,
    private readonly slots: ConcurrencyStore,
  ) {}

  async charge(charges: Charge[]): Promise<LimitOutcome> {
    const taken: { charge: Charge; res: ConsumeResult }[] = [];
    for (const charge of charges) {
      let res: ConsumeResult;
      try {
        res = await this.counters.consume(counterKey(charge), charge.cost, quotaOf(charge));
      } catch (err) {
        await this.giveBack(taken.map((t) => t.charge));
        return { ok: false, reason: 'store', error: err, states: [] };
      }
      if (!res.ok) {
        // A refused consume takes nothing; a refused request costs nothing.
        await this.giveBack(taken.map((t) => t.charge));
        const retryAfterS = Math.max(1, Math.ceil(res.resetMs / 1000));
        // What is left once this request's points are given back.
        const states = [
          ...taken.map(({ charge: c, res: r }) => ({ charge: c, remaining: r.remaining + c.cost, resetMs: r.resetMs })),
          { charge, remaining: res.remaining, resetMs: res.resetMs },
        ];
        return { ok: false, reason: 'quota', charge, retryAfterS, states };
      }
      taken.push({ charge, res });
    }
    return { ok: true, states: taken.map(({ charge, res }) => ({ charge, remaining: res.remaining, resetMs: res.resetMs })) };
  }

  /** Gives back charges already taken (a request refused at a later step costs nothing). */
  async refund(charges: Charge[]): Promise<void> {
    await this.giveBack(charges);
  }

  /** Takes an in-flight slot; the caller must call the returned release once the request ends (again is harmless). */
  async acquire(key: string, max: number): Promise<(() => void) | undefined> {
    const lease = await this.slots.acquire(key, max);
    if (!lease) return undefined;
    return () => void releaseWithRetries(this.slots, lease);
  }

  private async giveBack(charges: Charge[]): Promise<void> {
    await Promise.all(charges.map((c) => this.counters.refund(counterKey(c), c.cost, quotaOf(c)).catch(() => undefined)));
  }
}

/**
 * A release lost to a dropped connection would keep the caller's slot taken until its lease
 * lapses (minutes, with a shared store): retried a few times, backing off, in the background.
 */
async function releaseWithRetries(slots: ConcurrencyStore, lease: SlotLease): Promise<void> {
  for (let attempt = 0; attempt < 6; attempt++) {
    try {
      await slots.release(lease);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt).unref());
    }
  }
}

/** One counter per quota and key: the quota is part of the key, so a policy change starts new counters. */
function counterKey(charge: Charge): string {
  return `${charge.name}:${charge.quota}:${charge.windowS}:${charge.key}`;
}

function quotaOf(charge: Charge): Quota {
  return { points: charge.quota, windowMs: charge.windowS * 1000 };
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
