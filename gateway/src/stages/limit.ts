import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import { planLimits } from '../limits/limit-plan.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { PolicySource } from '../policy-port.js';

/**
 * limit stage: charges the caller's quotas (an inference costs its batch size in items) and its
 * in-flight slot. It runs after the body is read, since the cost is in the body; callers reach it
 * only once authenticated and authorized. Shadow mode records what would be refused. A failing
 * limiter store fails closed or open as the policy says.
 */
export function createLimitStage(policy: PolicySource, limits: RateLimits, log: Logger) {
  return async function limit(ctx: RequestContext): Promise<void> {
    const spec = policy.current().limits;
    if (!spec) return;
    ctx.modes.limits = spec.mode;
    const shadow = spec.mode === 'shadow';
    const target = ctx.target?.status === 'serving' ? ctx.target : undefined;
    const plan = planLimits(spec, ctx.principal!, ctx.source, { model: target?.model, items: ctx.body?.batchSize ?? 0 });

    if (plan.concurrency) {
      const release = limits.acquire(plan.concurrency.key, plan.concurrency.max);
      if (release) ctx.cleanup.push(release);
      else if (shadow) ctx.shadowDenials.push('limit:concurrency');
      else {
        ctx.refusedBy = 'limit:concurrency';
        throw new VigilError('CONCURRENCY_LIMITED', `at most ${plan.concurrency.max} requests in flight for this caller`, { 'retry-after': '1' });
      }
    }
    if (plan.charges.length === 0) return;
    const outcome = await limits.charge(plan);
    for (const [name, value] of Object.entries(outcome.headers)) ctx.res.setHeader(name, value);
    if (outcome.ok) return;
    if (outcome.reason === 'store') {
      log.error({ err: outcome.error, requestId: ctx.id }, `rate-limit store failed; ${spec.on_store_failure}`);
      if (spec.on_store_failure === 'fail_open') {
        ctx.shadowDenials.push('limit:store-failed-open');
        return;
      }
      ctx.refusedBy = 'limit:store';
      throw new VigilError('LIMITER_UNAVAILABLE', 'rate limits cannot be checked right now', { 'retry-after': '1' });
    }
    if (outcome.reason !== 'quota') return;
    const rule = `limit:${outcome.charge.name}`;
    if (shadow) {
      ctx.shadowDenials.push(rule);
      return;
    }
    ctx.refusedBy = rule;
    throw new VigilError('RATE_LIMITED', `${outcome.charge.name} quota of ${outcome.charge.quota} per ${outcome.charge.windowS} s is spent`, {
      ...outcome.headers,
      'retry-after': String(outcome.retryAfterS),
    });
  };
}
