import type { ModelContext } from '../context.js';
import type { ModelRegistry, ServedVersion } from '../model-registry.js';
import type { ModelRoute } from '../routes.js';
import type { Stage } from '../stage.js';

/**
 * The version a model request addresses: the one it names, else the highest being served
 * (undefined when none is). Pure, and the only place a version is chosen: authorize judges it and
 * resolve serves it, so the two can never disagree (a traffic split will choose here too).
 */
export function selectVersion(route: ModelRoute, versions: readonly ServedVersion[]): string | undefined {
  return route.version ?? versions.find((v) => v.status === 'serving')?.version;
}

/** select-version stage (model requests, before authorize): writes the chosen version onto the context. */
export function createSelectVersionStage(registry: ModelRegistry): Stage<ModelContext> {
  return {
    name: 'select-version',
    run(ctx) {
      ctx.version = selectVersion(ctx.route, registry.versionsOf(ctx.route.model));
    },
  };
}
