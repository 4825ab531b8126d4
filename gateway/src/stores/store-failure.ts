import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { PolicySource } from '../policy-port.js';
import { refuse, type Refusal } from '../stage.js';

const WHAT = { quarantine: 'quarantines', 'auth-failures': 'authentication-failure counters', extraction: "the extraction detector's state", budget: 'query-budget counters' } as const;

export type FailedStore = keyof typeof WHAT;

/**
 * A shared store that failed mid-request (Redis away or slow) follows the policy's
 * `on_store_failure`, as the limit stores do: fail_closed refuses with 503 STORE_UNAVAILABLE;
 * fail_open records the refusal it would have been (a shadow refusal) and lets the request go on
 * without that check. Never a 500: an unreachable store is an outage, not a bug.
 */
export function storeFailed(ctx: RequestContext, policy: PolicySource, log: Logger, store: keyof typeof WHAT, err: unknown): Refusal {
  const open = policy.current().limits?.on_store_failure === 'fail_open';
  log.error({ err, requestId: ctx.id }, `${store} store failed; ${open ? 'fail_open' : 'fail_closed'}`);
  const error = new VigilError('STORE_UNAVAILABLE', `the ${WHAT[store]} cannot be reached right now`, { 'retry-after': '1' });
  return open ? refuse(error, `store:${store}-failed`, 'shadow') : refuse(error, `store:${store}`);
}
