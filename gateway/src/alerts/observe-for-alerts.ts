import type { RequestContext } from '../context.js';
import type { AnomalyDetector } from './anomaly-detector.js';

/**
 * Feeds one finished request to the anomaly detector, from the responder's observer (the single
 * place every request ends). Counting only: the detector decides on its own timer.
 */
export function observeForAlerts(detector: AnomalyDetector, ctx: RequestContext, status: number, _code: string | null): void {
  if (ctx.refusedBy === 'stage:authenticate') detector.observe('auth_failures_by_source', ctx.source, { source: ctx.source });
  const principal = ctx.principal;
  if (principal) {
    if (ctx.decision && !ctx.decision.allowed) detector.observe('denials_by_principal', principal.id, { principal: principal.id });
    // Anonymous callers are one principal; like the rate limits, tell them apart by address.
    if (principal.method === 'anonymous') detector.observe('requests_by_principal', `${principal.id}@${ctx.source}`, { principal: principal.id, source: ctx.source });
    else detector.observe('requests_by_principal', principal.id, { principal: principal.id });
    // Detector findings count whatever the policy did with them (flagged, blocked or shadowed).
    if (ctx.screen?.findings.some((f) => f.verdict === 'anomalous')) {
      const key = principal.method === 'anonymous' ? `${principal.id}@${ctx.source}` : principal.id;
      detector.observe('findings_by_principal', key, principal.method === 'anonymous' ? { principal: principal.id, source: ctx.source } : { principal: principal.id });
    }
  }
  const target = ctx.target;
  if (status >= 500 && target) detector.observe('errors_by_model', `${target.model}/${target.version}`, { model: target.model, version: target.version });
}
