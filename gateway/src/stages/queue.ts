import type { TargetContext } from '../context.js';
import { overloaded } from '../limits/global-bounds.js';
import { refuse, type Stage } from '../stage.js';

/**
 * queue stage (inference, before the body is read): a model whose pool queue is full
 * (`pools.max_queue`) refuses at once with 503 OVERLOADED, instead of reading an upload it could
 * not serve. The backend checks again when it sends; this is the cheap early answer.
 */
export const queueStage: Stage<TargetContext> = {
  name: 'queue',
  run(ctx) {
    const { inflight, capacity } = ctx.target.backend.load();
    if (inflight >= capacity) {
      return refuse(overloaded(`the pool of ${ctx.target.model}/${ctx.target.version} already has ${inflight} requests queued (pools.max_queue)`), 'bound:pool_queue');
    }
  },
};
