import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';
import { enforceOutcome } from '../limits/enforce-outcome.js';
import { planLimits } from '../limits/limit-plan.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { PolicySource } from '../policy-port.js';

/**
 * limit stage, second half (after the body is validated): an inference costs its batch size in
 * the item quotas. Refused here, the request also gets back the request point admission took.
 */
export function createItemsLimitStage(policy: PolicySource, limits: RateLimits, log: Logger) {
  return async function chargeItems(ctx: RequestContext): Promise<void> {
    const spec = policy.current().limits;
    const target = ctx.target?.status === 'serving' ? ctx.target : undefined;
    if (!spec || !ctx.body || !target) return;
    const plan = planLimits(spec, ctx.principal!, ctx.source, { model: target.model, items: ctx.body.batchSize });
    if (plan.items.length === 0) return;
    const outcome = await limits.charge(plan.items);
    if (!outcome.ok && outcome.reason === 'quota' && spec.mode === 'enforce' && ctx.limits?.admitted.length) {
      await limits.refund(ctx.limits.admitted);
      for (const s of ctx.limits.states) if (ctx.limits.admitted.includes(s.charge)) s.remaining += s.charge.cost;
    }
    enforceOutcome(ctx, spec, outcome, log);
  };
}
