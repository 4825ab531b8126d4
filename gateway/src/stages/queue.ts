import type { RequestContext } from '../context.js';
import { overloaded } from '../limits/global-bounds.js';

/**
 * queue stage (infer only, before the body is read): a model whose pool queue is full
 * (`pools.max_queue`) refuses at once with 503 OVERLOADED, instead of reading an upload it could
 * not serve. The backend checks again when it sends; this is the cheap early answer.
 */
export function queueStage(ctx: RequestContext): void {
  if (ctx.route?.action !== 'model.infer' || ctx.target?.status !== 'serving') return;
  const { inflight, capacity } = ctx.target.backend.load();
  if (inflight >= capacity) {
    ctx.refusedBy = 'bound:pool_queue';
    throw overloaded(`the pool of ${ctx.target.model}/${ctx.target.version} already has ${inflight} requests queued (pools.max_queue)`);
  }
}
