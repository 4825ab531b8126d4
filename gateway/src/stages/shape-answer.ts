import { decodeAnswer, encodeAnswer } from '../../../oip/src/infer-answer.js';
import { answerDetailFor, reduceAnswer } from '../answers/answer-detail.js';
import { classify } from '../answers/classification.js';
import type { TargetContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { PolicySource } from '../policy-port.js';
import type { Stage } from '../stage.js';

/**
 * shape-answer stage (inference, after screen-answer, before send): the answer takes the form the
 * caller may see and asked for. A caller whose roles the policy's `answers:` gives less than the
 * full answer gets its floating-point outputs rounded or reduced to the top class; outputs asked
 * for with `classification` are ranked (after that reduction, so ranking never shows more than
 * the role may see); outputs asked for in binary are binary even when the backend answered JSON
 * (a remote server). Decoding and re-encoding costs only those answers; the detectors have already
 * seen the full answer.
 */
export function createShapeAnswerStage(policy: PolicySource): Stage<TargetContext> {
  return {
    name: 'shape-answer',
    run(ctx) {
      const answer = ctx.answer;
      if (answer?.status !== 200) return;
      const detail = answerDetailFor(policy.current().answers, ctx.principal?.roles ?? []);
      const form = ctx.body?.form;
      const reform = form !== undefined && (form.classification.size > 0 || (form.binary.size > 0 && answer.headerLength === undefined));
      if (detail.detail === 'full' && !reform) return;
      let decoded;
      try {
        decoded = decodeAnswer(answer.body, answer.headerLength);
      } catch (err) {
        throw new VigilError('POOL_ERROR', `the model pool sent an answer vigil cannot read: ${(err as Error).message}`);
      }
      if (detail.detail !== 'full') {
        reduceAnswer(decoded, detail);
        ctx.answerDetail = detail.detail === 'rounded' ? `rounded:${detail.decimals}` : detail.detail;
      }
      if (form?.classification.size) classify(decoded.outputs, form.classification, ctx.target.config.labels);
      const encoded = encodeAnswer(decoded.head, decoded.outputs, form?.binary);
      ctx.answer = { ...answer, body: encoded.body, headerLength: encoded.headerLength };
    },
  };
}
