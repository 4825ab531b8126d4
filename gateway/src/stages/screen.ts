import { screenBatch } from '../../../detectors/src/screen-batch.js';
import { screenStructure } from '../../../detectors/src/structural.js';
import type { Finding } from '../../../detectors/src/finding.js';
import type { RequestContext } from '../context.js';
import type { PolicySource } from '../policy-port.js';
import type { Quarantine } from '../screening/quarantine.js';
import { applyFindings } from '../screening/verdicts.js';

/**
 * screen stage (infer only, after validation, before anything reaches a pool): the structural
 * checks, then the profile score of every row. What a finding does is the policy's
 * (`detectors:`); the detectors that need the model's outputs run in the pool's own batch and are
 * judged when its answer comes back (screening/screen-answer.ts).
 */
export function createScreenStage(policy: PolicySource, quarantine: Quarantine) {
  return async function screen(ctx: RequestContext): Promise<void> {
    const target = ctx.target;
    if (ctx.route?.action !== 'model.infer' || target?.status !== 'serving' || !ctx.body?.request) return;
    const screening = target.screening;
    const findings: Finding[] = screenStructure({ request: ctx.body.request, bodyBytes: ctx.body.raw.length, ranges: screening.ranges }, screening.structural);
    const batch = screening.features !== null ? screenBatch(ctx.body.request, screening.features) : null;
    ctx.screen = { batch, findings: [], ran: screening.structural.enabled ? ['structural'] : [] };
    if (batch && screening.profile) {
      ctx.screen.ran.push('profile');
      const scores = batch.rows.map((row) => screening.profile!.score(row));
      ctx.screen.profileScores = scores;
      findings.push(screening.profile.worst(scores));
    }
    await applyFindings(ctx, findings, policy.current().detectors, quarantine);
  };
}
