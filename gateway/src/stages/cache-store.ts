import type { ResponseCaches } from '../answers/response-cache.js';
import type { TargetContext } from '../context.js';
import type { Stage } from '../stage.js';

/**
 * cache-store stage (inference, after proxy): a pool's 200 answer to a request the cache missed is
 * kept as the pool sent it, before any detector or role shapes it (those run again on each hit).
 */
export function createCacheStoreStage(caches: ResponseCaches): Stage<TargetContext> {
  return {
    name: 'cache-store',
    run(ctx) {
      if (ctx.cache?.outcome !== 'miss' || ctx.answer?.status !== 200) return;
      const { body, headerLength, screenReport } = ctx.answer;
      caches.of(ctx.target)?.set(ctx.cache.key, { body, headerLength, screenReport });
    },
  };
}
