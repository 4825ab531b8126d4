import type { Finding } from '../../../detectors/src/finding.js';
import { screenBatch } from '../../../detectors/src/screen-batch.js';
import type { Logger } from 'pino';
import type { TargetContext } from '../context.js';
import { storeFailed } from '../stores/store-failure.js';
import type { PolicySource } from '../policy-port.js';
import type { Quarantine } from '../screening/quarantine.js';
import { callerKey, findingVerdicts } from '../screening/verdicts.js';
import type { Stage } from '../stage.js';

/**
 * screen stage (inference, after validation, before anything reaches a pool): every request-phase
 * detector the model enables (structural, profile), in registry order. What a finding does is the
 * policy's (`detectors:`); the detectors that need the model's outputs run in the pool's own batch
 * and are judged by the screen-answer stage when its answer comes back.
 */
export function createScreenStage(policy: PolicySource, quarantine: Quarantine, log?: Logger): Stage<TargetContext> {
  return {
    name: 'screen',
    async run(ctx) {
      const body = ctx.body;
      if (!body?.request) return;
      const { request } = body;
      const { screening, model, version } = ctx.target;
      const batch = screening.features !== null ? screenBatch(request, screening.features) : null;
      const screen: NonNullable<TargetContext['screen']> = (ctx.screen = { batch, findings: [], ran: [] });
      const inspection = { request, bodyBytes: body.raw.length, batch, caller: callerKey(ctx), model: `${model}/${version}` };
      const findings: Finding[] = [];
      for (const detector of screening.request) {
        screen.ran.push(detector.name);
        const out = await detector.inspect(inspection);
        findings.push(...out.findings);
        if (out.flaggedRows) screen.flaggedRows = out.flaggedRows.map((f, r) => f || (screen.flaggedRows?.[r] ?? false));
      }
      // A quarantine that cannot be written (its store failed) follows on_store_failure, never a
      // 500, and the request is still blocked; no other finding's refusal is lost to it.
      const onQuarantineFailure = log ? (err: unknown) => storeFailed(ctx, policy, log, 'quarantine', err) : undefined;
      return findingVerdicts(ctx, findings, policy.current().detectors, quarantine, onQuarantineFailure);
    },
  };
}
