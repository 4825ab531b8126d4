import { createHash } from 'node:crypto';
import type { TrafficPolicy } from '../../../serving/src/traffic-policy.js';
import type { ModelContext } from '../context.js';
import type { ModelRegistry, ServedVersion } from '../model-registry.js';
import type { ModelRoute } from '../routes.js';
import type { Stage } from '../stage.js';

/**
 * The version a model request addresses: the one it names; else, with a traffic split, the one
 * the caller's sticky bucket falls in (one caller always sees one version); else the highest being
 * served (undefined when none is). Pure, and the only place a version is chosen: authorize judges
 * it and resolve serves it, so the two can never disagree.
 */
export function selectVersion(route: ModelRoute, versions: readonly ServedVersion[], traffic?: TrafficPolicy, caller = ''): string | undefined {
  if (route.version !== undefined) return route.version;
  if (traffic?.split) {
    const bucket = stickyBucket(route.model, caller);
    let upTo = 0;
    for (const [version, weight] of Object.entries(traffic.split).sort((a, b) => Number(a[0]) - Number(b[0]))) {
      upTo += weight;
      if (bucket < upTo) return version;
    }
  }
  return versions.find((v) => v.status === 'serving')?.version;
}

/** A caller's place in 0–99 for a model: a hash, so it is the same on every replica and every restart. */
export function stickyBucket(model: string, caller: string): number {
  return createHash('sha256').update(`${model}\u0000${caller}`).digest().readUInt32BE(0) % 100;
}

/**
 * select-version stage (model requests, before authorize): writes the chosen version onto the
 * context, and for inference the shadow version a copy of this request goes to, when the model's
 * traffic policy picks it for one (its share of requests, never the version that answers).
 */
export function createSelectVersionStage(registry: ModelRegistry, random: () => number = Math.random): Stage<ModelContext> {
  return {
    name: 'select-version',
    run(ctx) {
      const traffic = registry.trafficOf(ctx.route.model);
      ctx.version = selectVersion(ctx.route, registry.versionsOf(ctx.route.model), traffic, ctx.principal?.id ?? ctx.source);
      const shadow = traffic?.shadow;
      if (ctx.route.action === 'model.infer' && shadow && shadow.version !== ctx.version && random() < shadow.share) ctx.shadowVersion = shadow.version;
    },
  };
}
