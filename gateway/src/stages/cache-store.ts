import { keepable, type ResponseCaches } from '../answers/response-cache.js';
import type { TargetContext } from '../context.js';
import type { Stage } from '../stage.js';

/**
 * cache-store stage (inference, after proxy): a pool's 200 answer to a request the cache missed is
 * kept as the pool sent it (its id cut out), before any detector or role shapes it (those run
 * again on each hit). An answer that is not a well-formed OIP answer is never kept.
 */
export function createCacheStoreStage(caches: ResponseCaches): Stage<TargetContext> {
  return {
    name: 'cache-store',
    run(ctx) {
      if (ctx.cache?.outcome !== 'miss' || ctx.answer?.status !== 200) return;
      const { body, headerLength, screenReport } = ctx.answer;
      // Only a well-formed answer is kept: a broken one must not be served again to anyone.
      const kept = keepable(body, headerLength, ctx.cache.id);
      if (kept) caches.of(ctx.target)?.set(ctx.cache.key, { ...kept, screenReport, at: Date.now() });
    },
  };
}
