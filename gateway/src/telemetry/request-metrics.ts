import type { RequestContext } from '../context.js';
import type { Route } from '../routes.js';
import type { VigilMetrics } from './metrics.js';

const ROUTE_TEMPLATE: Record<Route['action'], [string, string]> = {
  'health.live': ['/v2/health/live', '/v2/health/live'],
  'health.ready': ['/v2/health/ready', '/v2/health/ready'],
  'server.metadata': ['/v2', '/v2'],
  'model.metadata': ['/v2/models/{model}', '/v2/models/{model}/versions/{version}'],
  'model.ready': ['/v2/models/{model}/ready', '/v2/models/{model}/versions/{version}/ready'],
  'model.config': ['/v2/models/{model}/config', '/v2/models/{model}/versions/{version}/config'],
  'model.stats': ['/v2/models/{model}/stats', '/v2/models/{model}/versions/{version}/stats'],
  'repository.index': ['/v2/repository/index', '/v2/repository/index'],
  'model.infer': ['/v2/models/{model}/infer', '/v2/models/{model}/versions/{version}/infer'],
};
/** The route template of a parsed route, for metrics and span names (never the raw path). */
export function routeTemplate(route: Route): string {
  return ROUTE_TEMPLATE[route.action]['version' in route && route.version !== undefined ? 1 : 0];
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
/**
 * Which part of vigil refused a request: the stage the runner recorded (its name, a small fixed
 * set of label values); 'client' for a client that left, 'audit' for the audit log failing (also
 * while answering another refusal), 'internal' for a bug.
 */
function stageOf(ctx: RequestContext, code: string): string {
  if (code === 'CLIENT_CLOSED') return 'client';
  if (code === 'AUDIT_UNAVAILABLE') return 'audit';
  // A bug (no rule refused it) keeps its own label, wherever it happened.
  if (code === 'INTERNAL_ERROR' && !ctx.refusedBy) return 'internal';
  if (ctx.refusedAt) return ctx.refusedAt;
  return 'unknown'; // a refusal outside any stage: visible on the dashboard, not hidden in another stage
}

/**
 * Records one finished request, at the single place every request ends (the responder): RED
 * metrics by route template, rejections by stage and code, and the security and inference figures.
 */
export function observeRequest(metrics: VigilMetrics, ctx: RequestContext, status: number, code: string | null): void {
  const seconds = Number(process.hrtime.bigint() - ctx.startedAt) / 1e9;
  const route = ctx.route;
  const method = METHODS.has(ctx.req.method ?? '') ? ctx.req.method! : '_OTHER';
  const attributes: Record<string, string | number> = { 'http.request.method': method, 'http.response.status_code': status };
  if (route) attributes['http.route'] = routeTemplate(route);
  if (code) attributes['error.type'] = code;
  metrics.httpDuration.record(seconds, attributes);

  if (code) metrics.rejections.add(1, { stage: stageOf(ctx, code), code });
  if (code && ctx.refusedBy === 'stage:authenticate') metrics.authFailures.add(1, { code });
  if (ctx.decision && !ctx.decision.allowed) metrics.policyDenials.add(1, { rule: ctx.decision.rule, mode: ctx.modes.authorization ?? 'enforce' });
  if (ctx.refusedBy?.startsWith('limit:')) metrics.rateLimitRejections.add(1, { quota: ctx.refusedBy.slice(6), mode: 'enforce' });
  for (const d of ctx.shadowDenials) if (d.startsWith('limit:')) metrics.rateLimitRejections.add(1, { quota: d.slice(6), mode: 'shadow' });

  const target = ctx.target;
  if (ctx.screen && target?.status === 'serving') observeFindings(metrics, ctx.screen, target.model, target.version);
  if (route?.action !== 'model.infer' || target?.status !== 'serving' || ctx.proxiedAt === undefined) return;
  const labels = { model: target.model, version: target.version };
  const ok = status < 400;
  metrics.inferenceRequests.add(1, { ...labels, outcome: ok ? 'success' : 'failure' });
  if (ctx.poolAnsweredAt !== undefined) metrics.inferenceDuration.record(Number(ctx.poolAnsweredAt - ctx.proxiedAt) / 1e9, labels);
  if (ctx.poolComputeSeconds !== undefined) metrics.inferenceComputeDuration.record(ctx.poolComputeSeconds, labels);
  if (ctx.poolQueueSeconds !== undefined) metrics.inferenceQueueDuration.record(ctx.poolQueueSeconds, labels);
  if (ctx.poolBatchItems !== undefined) metrics.executionBatchSize.record(ctx.poolBatchItems, labels);
  if (ok && ctx.body) {
    metrics.inferenceItems.add(ctx.body.batchSize, labels);
    metrics.batchSize.record(ctx.body.batchSize, labels);
  }
}

/** Every detector that judged the request, and every anomalous finding with what it did. */
function observeFindings(metrics: VigilMetrics, screen: NonNullable<RequestContext['screen']>, model: string, version: string): void {
  for (const detector of screen.ran) metrics.detectorInspections.add(`${model}\u0000${version}\u0000${detector}`, () => ({ model, version, detector }));
  for (const f of screen.findings) {
    if (f.verdict !== 'anomalous') continue;
    metrics.detectorFindings.add(1, { model, version, detector: f.detector, signal: f.signal, action: f.action, mode: f.mode });
    if (f.action === 'quarantine' && f.mode === 'enforce') metrics.quarantines.add(1, { detector: f.detector });
  }
}
