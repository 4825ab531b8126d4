import { HEADER_LENGTH } from '../../../oip/src/binary-data.js';
import type { RequestContext } from '../context.js';
import type { Responder } from '../respond.js';
import type { Stage } from '../stage.js';

const JSON_ANSWER = { 'content-type': 'application/json' };

/** send stage (inference, last): the pool's screened answer goes out once its audit record is written. */
export function createSendStage(responder: Responder): Stage {
  return {
    name: 'send',
    async run(ctx: RequestContext) {
      const answer = ctx.answer;
      if (!answer) return;
      // Binary tensor data: Triton's clients find the JSON's end in this header.
      const headers = answer.headerLength === undefined ? JSON_ANSWER : { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(answer.headerLength) };
      await responder.send(ctx, answer.status, headers, answer.body);
    },
  };
}
