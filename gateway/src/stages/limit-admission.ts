import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import { enforceOutcome } from '../limits/enforce-outcome.js';
import { planLimits } from '../limits/limit-plan.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { PolicySource } from '../policy-port.js';

/**
 * limit stage, first half (before the body is read): the caller's in-flight slot and request
 * quota. A caller over its limits is refused before it can make the gateway buffer an upload.
 */
export function createAdmissionStage(policy: PolicySource, limits: RateLimits, log: Logger) {
  return async function admit(ctx: RequestContext): Promise<void> {
    const spec = policy.current().limits;
    if (!spec) return;
    ctx.modes.limits = spec.mode;
    const plan = planLimits(spec, ctx.principal!, ctx.source, { items: 0 });
    if (plan.concurrency) {
      const release = await limits.acquire(plan.concurrency.key, plan.concurrency.max);
      if (release) ctx.onClose(release);
      else if (spec.mode === 'shadow') ctx.shadowDenials.push('limit:concurrency');
      else {
        ctx.refusedBy = 'limit:concurrency';
        throw new VigilError('CONCURRENCY_LIMITED', `at most ${plan.concurrency.max} requests in flight for this caller`, { 'retry-after': '1' });
      }
    }
    if (plan.admission.length === 0) return;
    const outcome = await limits.charge(plan.admission);
    if (outcome.ok) (ctx.limits ??= { admitted: [], states: [] }).admitted = plan.admission;
    enforceOutcome(ctx, spec, outcome, log);
  };
}
