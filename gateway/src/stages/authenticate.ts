import type { AuthFailureThrottle } from '../auth/auth-failure-throttle.js';
import type { JwtAuthenticator } from '../auth/jwt-authenticator.js';
import { claimedCredential, claimedIdentity } from '../auth/claimed-identity.js';
import { principalOfRequest } from '../auth/principal-of-request.js';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { PolicySource } from '../policy-port.js';
import { refuse, type Refusal, type Stage } from '../stage.js';
import { storeFailed } from '../stores/store-failure.js';
import type { Logger } from 'pino';

const RULE = 'stage:authenticate';

/**
 * authenticate stage: turns the request's one credential (bearer JWT or API key, or none) into a
 * Principal. A refused credential counts against its source address and the identity it claimed
 * (slowed, then blocked).
 * No credentials is not an error here: the policy decides what anonymous callers may do.
 */
export function createAuthenticateStage(deps: { jwt: JwtAuthenticator; policy: PolicySource; throttle: AuthFailureThrottle; log?: Logger }): Stage {
  const failed = (ctx: RequestContext, err: unknown) => {
    if (!deps.log) throw err;
    return storeFailed(ctx, deps.policy, deps.log, 'auth-failures', err);
  };
  return {
    name: 'authenticate',
    async run(ctx: RequestContext) {
      // The throttle's store is shared (Redis with replicas): its failure follows on_store_failure.
      let open: Refusal | undefined;
      try {
        await deps.throttle.assertNotBlocked(ctx.source, () => claimedIdentity(ctx.req));
      } catch (err) {
        if (!(err instanceof VigilError)) open = failed(ctx, err);
        else return refuse(err, RULE);
        if (open.mode === 'enforce') return open;
      }
      try {
        ctx.principal = await principalOfRequest(ctx.req, deps.jwt, deps.policy);
        return open;
      } catch (err) {
        if (!(err instanceof VigilError)) throw err;
        ctx.claimed = claimedCredential(ctx.req);
        // An unreachable JWKS is our failure, not the caller's, and a block is not a new failure.
        if (err.status !== 503 && err.code !== 'AUTH_BLOCKED') {
          try {
            await deps.throttle.recordFailure(ctx.source, claimedIdentity(ctx.req));
          } catch (storeErr) {
            const refusal = failed(ctx, storeErr);
            return [refuse(err, RULE), refusal];
          }
        }
        return refuse(err, RULE);
      }
    },
  };
}
