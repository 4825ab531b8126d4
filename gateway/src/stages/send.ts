import type { RequestContext } from '../context.js';
import type { Responder } from '../respond.js';
import type { Stage } from '../stage.js';

/** send stage (inference, last): the pool's screened answer goes out once its audit record is written. */
export function createSendStage(responder: Responder): Stage {
  return {
    name: 'send',
    async run(ctx: RequestContext) {
      if (!ctx.answer) return;
      await responder.send(ctx, ctx.answer.status, { 'content-type': 'application/json' }, ctx.answer.body);
    },
  };
}
