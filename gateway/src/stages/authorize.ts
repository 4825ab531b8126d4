import type { Authenticated, RoutedContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { PolicySource } from '../policy-port.js';
import { refuse, type Stage } from '../stage.js';
import { POLICY_ACTION } from '../routes.js';

/**
 * authorize stage: asks the policy whether this principal may do this action on this model
 * version (the one select-version chose), decided on the strictly parsed route, never the raw
 * path. It runs before the model is looked up, so a caller who may not see a model gets the same
 * 403 whether or not it exists. The policy's rule decides the mode (enforce or shadow).
 */
export function createAuthorizeStage(policy: PolicySource): Stage<RoutedContext & Authenticated> {
  return {
    name: 'authorize',
    run(ctx) {
      const { route, principal } = ctx;
      const model = 'model' in route ? route.model : undefined;
      const action = POLICY_ACTION[route.action];
      const decision = policy.current().authorize({ principal, action, model, version: ctx.version, source: ctx.source, timeMs: Date.now() });
      ctx.decision = decision;
      ctx.modes.authorization = decision.mode;
      if (decision.allowed) return;
      if (principal.method === 'anonymous') {
        return refuse(new VigilError('AUTHENTICATION_REQUIRED', `${action} needs credentials: a bearer token or an API key`, { 'www-authenticate': 'Bearer' }), decision.rule, decision.mode);
      }
      const asked = 'model' in route && route.version !== undefined ? ` version '${route.version}'` : '';
      const what = model === undefined ? action : `${action} on model '${model}'${asked}`;
      return refuse(new VigilError('FORBIDDEN', `${principal.id} may not ${what}`), decision.rule, decision.mode);
    },
  };
}
