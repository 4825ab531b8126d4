import type { Logger } from 'pino';
import type { Authenticated, TargetContext } from '../context.js';
import { limitVerdict } from '../limits/limit-verdict.js';
import { planLimits } from '../limits/limit-plan.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { PolicySource } from '../policy-port.js';
import type { Stage } from '../stage.js';

/**
 * items stage (limits, second half, after the body is validated): an inference costs its batch
 * size in the item quotas. Refused here, the request also gets back the request point admit took.
 */
export function createItemsStage(policy: PolicySource, limits: RateLimits, log: Logger): Stage<TargetContext & Authenticated> {
  return {
    name: 'items',
    async run(ctx) {
      const spec = policy.current().limits;
      if (!spec || !ctx.body) return;
      const plan = planLimits(spec, ctx.principal, ctx.source, { model: ctx.target.model, items: ctx.body.batchSize });
      if (plan.items.length === 0) return;
      const outcome = await limits.charge(plan.items);
      if (!outcome.ok && outcome.reason === 'quota' && spec.mode === 'enforce' && ctx.limits?.admitted.length) {
        await limits.refund(ctx.limits.admitted);
        for (const s of ctx.limits.states) if (ctx.limits.admitted.includes(s.charge)) s.remaining += s.charge.cost;
      }
      return limitVerdict(ctx, spec, outcome, log);
    },
  };
}
