import { answerDetailFor, reduceAnswer } from '../answers/answer-detail.js';
import type { TargetContext } from '../context.js';
import type { PolicySource } from '../policy-port.js';
import type { Stage } from '../stage.js';

/**
 * shape-answer stage (inference, after screen-answer, before send): a caller whose roles the
 * policy's `answers:` gives less than the full answer gets its floating-point outputs rounded or
 * reduced to the top class. Parsing and re-serializing costs only those callers; the detectors
 * have already seen the full answer.
 */
export function createShapeAnswerStage(policy: PolicySource): Stage<TargetContext> {
  return {
    name: 'shape-answer',
    run(ctx) {
      const answer = ctx.answer;
      if (answer?.status !== 200) return;
      const detail = answerDetailFor(policy.current().answers, ctx.principal?.roles ?? []);
      if (detail.detail === 'full') return;
      const parsed = JSON.parse(answer.body.toString('utf8')) as { outputs?: [] };
      reduceAnswer(parsed, detail);
      ctx.answer = { ...answer, body: Buffer.from(JSON.stringify(parsed)) };
      ctx.answerDetail = detail.detail === 'rounded' ? `rounded:${detail.decimals}` : detail.detail;
    },
  };
}
