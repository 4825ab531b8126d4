import type { Logger } from 'pino';
import type { Authenticated, RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import { limitVerdict } from '../limits/limit-verdict.js';
import { planLimits } from '../limits/limit-plan.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { PolicySource } from '../policy-port.js';
import { refuse, type Stage } from '../stage.js';

/**
 * admit stage (limits, first half, before the body is read): the caller's in-flight slot and
 * request quota. A caller over its limits is refused before it can make the gateway buffer an upload.
 */
export function createAdmitStage(policy: PolicySource, limits: RateLimits, log: Logger): Stage<RequestContext & Authenticated> {
  return {
    name: 'admit',
    async run(ctx) {
      const spec = policy.current().limits;
      if (!spec) return;
      ctx.modes.limits = spec.mode;
      const plan = planLimits(spec, ctx.principal, ctx.source, { items: 0 });
      let busy;
      if (plan.concurrency) {
        let release;
        try {
          release = await limits.acquire(plan.concurrency.key, plan.concurrency.max);
        } catch (error) {
          // A slot store that fails is a limiter failure like a counter store's: on_store_failure, never a 500.
          return limitVerdict(ctx, spec, { ok: false, reason: 'store', error, states: [] }, log);
        }
        if (release) ctx.onClose(release);
        else busy = refuse(new VigilError('CONCURRENCY_LIMITED', `at most ${plan.concurrency.max} requests in flight for this caller`, { 'retry-after': '1' }), 'limit:concurrency', spec.mode);
        // Refused in enforce mode: no quota is charged for a request that never ran.
        if (busy?.mode === 'enforce') return busy;
      }
      if (plan.admission.length === 0) return busy;
      const outcome = await limits.charge(plan.admission);
      if (outcome.ok) (ctx.limits ??= { admitted: [], states: [] }).admitted = plan.admission;
      const quota = limitVerdict(ctx, spec, outcome, log);
      return busy && quota ? [busy, quota] : (busy ?? quota);
    },
  };
}
