import type { LimitsConfig, LimitSpec } from '../../../policies/src/index.js';
import type { Principal } from '../auth/principal.js';

/** The `limits` section of the policy file (policies/src/policy-schema.ts), possibly partial in tests. */
export type LimitsPolicy = Pick<LimitsConfig, 'mode' | 'on_store_failure'> & Partial<Omit<LimitsConfig, 'mode' | 'on_store_failure'>>;

/** One quota to charge: `cost` points from `key`'s budget of `quota` per `windowS`. */
export interface Charge {
  name: 'requests' | 'items' | 'model_items';
  key: string;
  quota: number;
  windowS: number;
  cost: number;
}

export interface LimitPlan {
  /** Charged before the body is read: a caller over its request quota or in-flight cap costs no upload. */
  admission: Charge[];
  /** Charged once the body is validated: an inference's items, per caller and per caller × model. */
  items: Charge[];
  /** In-flight cap, if any. */
  concurrency?: { key: string; max: number };
}

/**
 * Which quotas a request draws on: pure, so it can be tested and explained. A principal with
 * several roles gets, per quota, the most generous of its roles' limits; a quota none of its
 * roles sets comes from `default`, so no role can lift a quota by leaving it out. Anonymous callers are limited per source address. An inference costs its
 * batch size in the item quotas; every request costs 1 in the request quota.
 */
export function planLimits(
  limits: LimitsPolicy,
  principal: Principal,
  source: string,
  request: { model?: string; items: number },
): LimitPlan {
  const anonymous = principal.method === 'anonymous';
  const spec = anonymous ? limits.anonymous ?? {} : effectiveSpec(limits, principal.roles);
  const who = anonymous ? `anon:${source}` : principal.id;
  const plan: LimitPlan = { admission: [], items: [] };
  if (spec.requests_per_minute !== undefined) {
    plan.admission.push({ name: 'requests', key: who, quota: spec.requests_per_minute, windowS: 60, cost: 1 });
  }
  if (request.items > 0 && spec.items_per_minute !== undefined) {
    plan.items.push({ name: 'items', key: who, quota: spec.items_per_minute, windowS: 60, cost: request.items });
  }
  if (request.items > 0 && request.model !== undefined && spec.model_items_per_minute !== undefined) {
    plan.items.push({ name: 'model_items', key: `${who}|${request.model}`, quota: spec.model_items_per_minute, windowS: 60, cost: request.items });
  }
  if (spec.concurrency !== undefined) plan.concurrency = { key: who, max: spec.concurrency };
  return plan;
}

function effectiveSpec(limits: LimitsPolicy, roles: string[]): LimitSpec {
  const byRole = limits.roles ?? {};
  // Own properties only: a role named `constructor` must not find Object.prototype's.
  const specs = roles.filter((r) => Object.hasOwn(byRole, r)).map((r) => byRole[r]);
  const fallback = limits.default ?? {};
  if (specs.length === 0) return fallback;
  const most = (field: keyof LimitSpec) => {
    const values = specs.map((s) => s[field]).filter((v): v is number => v !== undefined);
    return values.length === 0 ? fallback[field] : Math.max(...values);
  };
  return {
    requests_per_minute: most('requests_per_minute'),
    items_per_minute: most('items_per_minute'),
    model_items_per_minute: most('model_items_per_minute'),
    concurrency: most('concurrency'),
  };
}
