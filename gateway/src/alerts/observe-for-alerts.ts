import type { RequestContext } from '../context.js';
import { callerKey } from '../screening/verdicts.js';
import type { AnomalyDetector } from './anomaly-detector.js';

/**
 * Feeds one finished request to the anomaly detector, from the responder's observer (the single
 * place every request ends). Counting only: the detector decides on its own timer.
 */
export function observeForAlerts(detector: AnomalyDetector, ctx: RequestContext, status: number, _code: string | null): void {
  // A 503 from authenticate is the IdP failing (JWKS_UNAVAILABLE), not a caller guessing.
  if (ctx.refusedBy === 'stage:authenticate' && status !== 503) detector.observe('auth_failures_by_source', ctx.source, { source: ctx.source });
  const principal = ctx.principal;
  if (principal) {
    if (ctx.decision && !ctx.decision.allowed) detector.observe('denials_by_principal', principal.id, { principal: principal.id });
    // Anonymous callers are one principal; like the rate limits, tell them apart by address.
    const key = callerKey(ctx);
    const labels: Record<string, string> = principal.method === 'anonymous' ? { principal: principal.id, source: ctx.source } : { principal: principal.id };
    detector.observe('requests_by_principal', key, labels);
    // Detector findings count whatever the policy did with them (flagged, blocked or shadowed).
    // A finding about every caller together (the model-wide budget) says nothing about this one.
    if (ctx.screen?.findings.some((f) => f.verdict === 'anomalous' && f.ceiling !== 'flag')) detector.observe('findings_by_principal', key, labels);
  }
  const target = ctx.target;
  if (!target) return;
  const version = `${target.model}/${target.version}`;
  if (status >= 500) detector.observe('errors_by_model', version, { model: target.model, version: target.version });
  // The model version's latency: the pool round trip (queue, compute, I/O) of every inference
  // that reached it; one that got no answer (timeout, a failed pool) counts for as long as it waited.
  if (ctx.proxiedAt !== undefined) {
    const end = ctx.poolAnsweredAt ?? process.hrtime.bigint();
    detector.observeValue('latency_by_model', version, { model: target.model, version: target.version }, Number(end - ctx.proxiedAt) / 1e6);
  }
}
