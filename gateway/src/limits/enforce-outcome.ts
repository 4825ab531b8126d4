import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { LimitsPolicy } from './limit-plan.js';
import { rateLimitHeaders, type LimitOutcome } from './rate-limits.js';

/**
 * What a charge's outcome means for the request, the same for both limit stages: headers always;
 * a refusal blocks in enforce mode and is only recorded in shadow mode (which never blocks, not
 * even on a store failure); a store failure follows `on_store_failure`.
 */
export function enforceOutcome(ctx: RequestContext, spec: LimitsPolicy, outcome: LimitOutcome, log: Logger): void {
  const limits = (ctx.limits ??= { admitted: [], states: [] });
  const names = new Set(outcome.states.map((s) => s.charge.name));
  limits.states = [...limits.states.filter((s) => !names.has(s.charge.name)), ...outcome.states];
  const headers = rateLimitHeaders(limits.states);
  for (const [name, value] of Object.entries(headers)) ctx.res.setHeader(name, value);
  if (outcome.ok) return;
  const shadow = spec.mode === 'shadow';
  if (outcome.reason === 'store') {
    log.error({ err: outcome.error, requestId: ctx.id }, `rate-limit store failed; ${shadow ? 'shadow mode' : spec.on_store_failure}`);
    if (shadow || spec.on_store_failure === 'fail_open') {
      ctx.shadowDenials.push('limit:store-failed');
      return;
    }
    ctx.refusedBy = 'limit:store';
    throw new VigilError('LIMITER_UNAVAILABLE', 'rate limits cannot be checked right now', { 'retry-after': '1' });
  }
  const rule = `limit:${outcome.charge.name}`;
  if (shadow) {
    ctx.shadowDenials.push(rule);
    return;
  }
  ctx.refusedBy = rule;
  throw new VigilError('RATE_LIMITED', `${outcome.charge.name} quota of ${outcome.charge.quota} per ${outcome.charge.windowS} s is spent`, {
    ...headers,
    'retry-after': String(outcome.retryAfterS),
  });
}
