import type { TargetContext } from '../context.js';
import type { PolicySource } from '../policy-port.js';
import type { Quarantine } from '../screening/quarantine.js';
import { screenAnswer } from '../screening/screen-answer.js';
import { findingVerdicts } from '../screening/verdicts.js';
import type { Stage } from '../stage.js';

/**
 * screen-answer stage (inference, after proxy): the detectors that read the model's outputs
 * (pool and answer phases: squeeze, extraction) judge a successful answer before send lets it out.
 */
export function createScreenAnswerStage(policy: PolicySource, quarantine: Quarantine): Stage<TargetContext> {
  return {
    name: 'screen-answer',
    async run(ctx) {
      if (ctx.answer?.status !== 200) return;
      const findings = await screenAnswer(ctx, ctx.answer.screenReport);
      return findingVerdicts(ctx, findings, policy.current().detectors, quarantine);
    },
  };
}
