import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { ModelRegistry } from '../model-registry.js';
import type { PolicySource } from '../policy-port.js';
import { POLICY_ACTION } from './route.js';

/**
 * authorize stage: asks the policy whether this principal may do this action on this model
 * version, decided on the strictly parsed route, never the raw path. It runs before the model is
 * looked up, so a caller who may not see a model gets the same 403 whether or not it exists.
 * In shadow mode a denial is recorded, not enforced.
 */
export function createAuthorizeStage(policy: PolicySource, registry: ModelRegistry) {
  return function authorize(ctx: RequestContext): void {
    const route = ctx.route!;
    const principal = ctx.principal!;
    const model = 'model' in route ? route.model : undefined;
    // An unversioned request addresses the default version: authorize that one.
    const version = 'model' in route ? (route.version ?? registry.defaultVersion(route.model)) : undefined;
    const action = POLICY_ACTION[route.action];
    const decision = policy.current().authorize({ principal, action, model, version, source: ctx.source, timeMs: Date.now() });
    ctx.decision = decision;
    ctx.modes.authorization = decision.mode;
    if (decision.allowed) return;
    if (decision.mode === 'shadow') {
      ctx.shadowDenials.push(decision.rule);
      return;
    }
    ctx.refusedBy = decision.rule;
    if (principal.method === 'anonymous') {
      throw new VigilError('AUTHENTICATION_REQUIRED', `${action} needs credentials: a bearer token or an API key`, { 'www-authenticate': 'Bearer' });
    }
    const asked = 'model' in route && route.version !== undefined ? ` version '${route.version}'` : '';
    const what = model === undefined ? action : `${action} on model '${model}'${asked}`;
    throw new VigilError('FORBIDDEN', `${principal.id} may not ${what}`);
  };
}
