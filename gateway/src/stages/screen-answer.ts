import type { Logger } from 'pino';
import type { TargetContext } from '../context.js';
import { storeFailed } from '../stores/store-failure.js';
import type { PolicySource } from '../policy-port.js';
import type { Quarantine } from '../screening/quarantine.js';
import { screenAnswer } from '../screening/screen-answer.js';
import { findingVerdicts } from '../screening/verdicts.js';
import type { Stage } from '../stage.js';

/**
 * screen-answer stage (inference, after proxy): the detectors that read the model's outputs
 * (pool and answer phases: squeeze, extraction) judge a successful answer before send lets it out.
 */
export function createScreenAnswerStage(policy: PolicySource, quarantine: Quarantine, log?: Logger): Stage<TargetContext> {
  return {
    name: 'screen-answer',
    async run(ctx) {
      if (ctx.answer?.status !== 200) return;
      // A pool that did not report is its own refusal (thrown); a detector whose shared store
      // failed follows on_store_failure, and the findings of the others still count.
      const { findings, failed } = await screenAnswer(ctx, ctx.answer.screenReport);
      if (failed.length > 0 && !log) throw failed[0].err;
      const storeRefusals = failed.map((f) => storeFailed(ctx, policy, log!, f.store, f.err));
      // A quarantine that cannot be written follows on_store_failure, and the request is still blocked.
      const onQuarantineFailure = log ? (err: unknown) => storeFailed(ctx, policy, log, 'quarantine', err) : undefined;
      return [...storeRefusals, ...(await findingVerdicts(ctx, findings, policy.current().detectors, quarantine, onQuarantineFailure))];
    },
  };
}
