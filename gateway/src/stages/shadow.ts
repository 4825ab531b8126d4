import type { Logger } from 'pino';
import type { TargetContext } from '../context.js';
import { compareAnswers } from '../answers/compare-answers.js';
import type { ModelRegistry } from '../model-registry.js';
import type { Stage } from '../stage.js';
import type { VigilMetrics } from '../telemetry/metrics.js';
import type { ModelStats } from '../telemetry/model-stats.js';

/** Shadow copies in flight at once, across every model; past it a copy is skipped (and counted). */
export const MAX_SHADOW_INFLIGHT = 32;

/**
 * shadow stage (inference, right after proxy): when select-version picked this request for a
 * copy, the same validated bytes go to the shadow version too. Its answer is never returned and
 * the client never waits for it: the comparison with the answer that was (top-1 agreement, the
 * largest probability difference) lands in metrics when it comes. Bounded, and a shadow that
 * fails, hangs past the request timeout or is over its bound costs the client nothing.
 */
export function createShadowStage(registry: ModelRegistry, metrics: VigilMetrics, stats: ModelStats, log: Logger, timeoutMs: number): Stage<TargetContext> {
  let inflight = 0;
  return {
    name: 'shadow',
    run(ctx) {
      const shadowVersion = ctx.shadowVersion;
      const answer = ctx.answer;
      if (shadowVersion === undefined || answer?.status !== 200 || !ctx.body) return;
      const labels = { model: ctx.target.model, version: ctx.target.version, shadow_version: shadowVersion };
      const shadow = registry.versionsOf(ctx.target.model).find((v) => v.version === shadowVersion);
      if (shadow?.status !== 'serving' || inflight >= MAX_SHADOW_INFLIGHT) {
        metrics.shadowRequests.add(1, { ...labels, outcome: 'skipped' });
        return;
      }
      // The audit record names a shadow version only when a copy went to it.
      ctx.shadowSent = shadowVersion;
      const { raw, headerLength } = ctx.body;
      inflight++;
      const release = registry.lease(shadow); // an unload waits for the copy too
      void shadow.backend
        .infer({ model: shadow.model, version: shadow.version, body: raw, headerLength, contentType: headerLength === undefined ? 'application/json' : 'application/octet-stream', requestId: ctx.id, trace: {} }, AbortSignal.timeout(timeoutMs))
        .then((got) => {
          const comparison = got.status === 200 ? compareAnswers(answer, got) : null;
          if (!comparison) {
            metrics.shadowRequests.add(1, { ...labels, outcome: 'failed' });
            return;
          }
          metrics.shadowRequests.add(1, { ...labels, outcome: 'compared' });
          metrics.shadowRows.add(comparison.agree, { ...labels, agree: 'true' });
          metrics.shadowRows.add(comparison.rows - comparison.agree, { ...labels, agree: 'false' });
          metrics.shadowMaxDifference.record(comparison.maxDifference, labels);
          stats.observeShadow(shadow, comparison.agree, comparison.rows);
        })
        .catch((err: unknown) => {
          metrics.shadowRequests.add(1, { ...labels, outcome: 'failed' });
          log.debug({ err, ...labels }, 'shadow request failed');
        })
        .finally(() => {
          inflight--;
          release();
        });
    },
  };
}
