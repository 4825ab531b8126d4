import { screenBatch } from '../../../detectors/src/screen-batch.js';
import { screenStructure } from '../../../detectors/src/structural.js';
import type { Finding } from '../../../detectors/src/finding.js';
import type { TargetContext } from '../context.js';
import type { PolicySource } from '../policy-port.js';
import type { Quarantine } from '../screening/quarantine.js';
import { findingVerdicts } from '../screening/verdicts.js';
import type { Stage } from '../stage.js';

/**
 * screen stage (inference, after validation, before anything reaches a pool): the structural
 * checks, then the profile score of every row. What a finding does is the policy's
 * (`detectors:`); the detectors that need the model's outputs run in the pool's own batch and are
 * judged by the screen-answer stage when its answer comes back.
 */
export function createScreenStage(policy: PolicySource, quarantine: Quarantine): Stage<TargetContext> {
  return {
    name: 'screen',
    async run(ctx) {
      const body = ctx.body;
      if (!body?.request) return;
      const { request } = body;
      const { screening } = ctx.target;
      const findings: Finding[] = screenStructure({ request, bodyBytes: body.raw.length, ranges: screening.ranges }, screening.structural);
      const batch = screening.features !== null ? screenBatch(request, screening.features) : null;
      ctx.screen = { batch, findings: [], ran: screening.structural.enabled ? ['structural'] : [] };
      const { profile } = screening;
      if (batch && profile) {
        ctx.screen.ran.push('profile');
        const scores = batch.rows.map((row) => profile.score(row));
        ctx.screen.profileScores = scores;
        findings.push(profile.worst(scores));
      }
      return findingVerdicts(ctx, findings, policy.current().detectors, quarantine);
    },
  };
}
