import { answerFor, requestKey, type ResponseCaches } from '../answers/response-cache.js';
import type { TargetContext } from '../context.js';
import type { Stage } from '../stage.js';
import type { VigilMetrics } from '../telemetry/metrics.js';

/**
 * cache-lookup stage (inference, after screen, before proxy; only for versions with
 * `response_cache`): a request the version has answered before, inputs and all, gets that answer
 * without the pool, under its own `id`. Everything after runs as for any answer: the answer-phase
 * detectors (squeeze on the kept report, extraction, budgets) judge every request, hit or not.
 */
export function createCacheLookupStage(caches: ResponseCaches, metrics: VigilMetrics): Stage<TargetContext> {
  return {
    name: 'cache-lookup',
    run(ctx) {
      const request = ctx.body?.request;
      const cache = request && caches.of(ctx.target);
      if (!cache || !ctx.body || !request) return;
      const key = requestKey(request, ctx.body.headerLength !== undefined);
      const labels = { model: ctx.target.model, version: ctx.target.version };
      const kept = cache.get(key);
      if (!kept) {
        ctx.cache = { outcome: 'miss', key, id: request.id };
        metrics.responseCache.add(1, { ...labels, outcome: 'miss' });
        return;
      }
      ctx.cache = { outcome: 'hit', key, id: request.id };
      metrics.responseCache.add(1, { ...labels, outcome: 'hit' });
      ctx.answer = { status: 200, ...answerFor(kept, request.id), screenReport: kept.screenReport };
      // As the proxy does: the tensors are not needed past here.
      ctx.body.request = undefined;
    },
  };
}
