import type { RequestContext } from '../context.js';
import type { ModelRegistry } from '../model-registry.js';

/** resolve stage: finds the model version a model-level request addresses (404/503 if none). */
export function createResolveStage(registry: ModelRegistry) {
  return function resolveModel(ctx: RequestContext): void {
    const route = ctx.route!;
    if (!('model' in route)) return;
    ctx.target = registry.resolve(route.model, route.version);
  };
}
