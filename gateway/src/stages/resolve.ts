import type { ModelContext } from '../context.js';
import type { ModelRegistry } from '../model-registry.js';
import type { Stage } from '../stage.js';

/**
 * resolve stage (model requests, after authorize): the version select-version chose, as served
 * (404 MODEL_NOT_FOUND / MODEL_VERSION_NOT_FOUND, 503 MODEL_UNAVAILABLE if it is not).
 */
export function createResolveStage(registry: ModelRegistry): Stage<ModelContext> {
  return {
    name: 'resolve',
    run(ctx) {
      const target = registry.resolve(ctx.route.model, ctx.version);
      ctx.target = target;
      // Held until the response closes, so a version unloaded or replaced meanwhile finishes it.
      ctx.onClose(registry.lease(target));
    },
  };
}
