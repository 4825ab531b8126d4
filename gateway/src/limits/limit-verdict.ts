import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import { refuse, type Refusal } from '../stage.js';
import type { LimitsPolicy } from './limit-plan.js';
import { rateLimitHeaders, type LimitOutcome } from './rate-limits.js';

/**
 * What a charge's outcome means for the request, the same for both limit stages: headers always;
 * a spent quota is a refusal in the policy's limits mode; a store failure follows
 * `on_store_failure`, and never blocks in shadow mode.
 */
export function limitVerdict(ctx: RequestContext, spec: LimitsPolicy, outcome: LimitOutcome, log: Logger): Refusal | undefined {
  const limits = (ctx.limits ??= { admitted: [], states: [] });
  const names = new Set(outcome.states.map((s) => s.charge.name));
  limits.states = [...limits.states.filter((s) => !names.has(s.charge.name)), ...outcome.states];
  const headers = rateLimitHeaders(limits.states);
  for (const [name, value] of Object.entries(headers)) ctx.res.setHeader(name, value);
  if (outcome.ok) return undefined;
  if (outcome.reason === 'store') {
    const open = spec.mode === 'shadow' || spec.on_store_failure === 'fail_open';
    log.error({ err: outcome.error, requestId: ctx.id }, `rate-limit store failed; ${spec.mode === 'shadow' ? 'shadow mode' : spec.on_store_failure}`);
    const error = new VigilError('LIMITER_UNAVAILABLE', 'rate limits cannot be checked right now', { 'retry-after': '1' });
    return open ? refuse(error, 'limit:store-failed', 'shadow') : refuse(error, 'limit:store');
  }
  const error = new VigilError('RATE_LIMITED', `${outcome.charge.name} quota of ${outcome.charge.quota} per ${outcome.charge.windowS} s is spent`, {
    ...headers,
    'retry-after': String(outcome.retryAfterS),
  });
  return refuse(error, `limit:${outcome.charge.name}`, spec.mode);
}
