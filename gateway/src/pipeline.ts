import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { tracer } from '../../serving/src/tracing.js';
import { VigilError } from './errors.js';
import { routeTemplate } from './telemetry/request-metrics.js';
import { peerAddress, type SourceOf } from './client-address.js';
import { createContext, type RequestContext } from './context.js';
import { renderError } from './render-error.js';
import type { Responder } from './respond.js';

/** A pipeline stage: adds to the context, answers the request (setting `answered`), or throws VigilError. */
export type Stage = (ctx: RequestContext) => void | Promise<void>;

/**
 * Runs the stages in order until one answers or throws; every failure, from any stage, leaves
 * through renderError, and every answer through the responder (which audits it). The order is
 * fixed in one place (vigil.ts) where it can be read whole.
 */
export function createPipeline(stages: Stage[], responder: Responder, log: Logger, sourceOf: SourceOf = peerAddress) {
  return async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<RequestContext> {
    const ctx = createContext(req, res, sourceOf(req));
    // Health probes make no spans: a load balancer polling every second would drown the traces.
    const span = req.url?.startsWith('/v2/health/') ? undefined : startRequestSpan(req);
    const run = async () => {
      try {
        for (const stage of stages) {
          await runStage(stage, ctx, span);
          if (ctx.answered) break;
        }
        if (!ctx.answered) throw new Error('no stage answered the request');
      } catch (err) {
        await renderError(ctx, err, responder, log);
      }
    };
    if (!span) {
      await run();
      return ctx;
    }
    // A no-op span (no exporter) has an all-zero id: the audit record then says null, not zeros.
    if (isSpanContextValid(span.spanContext())) ctx.traceId = span.spanContext().traceId;
    ctx.traceContext = trace.setSpan(context.active(), span);
    await context.with(ctx.traceContext, run);
    endRequestSpan(span, ctx);
    return ctx;
  };
}

function startRequestSpan(req: IncomingMessage): Span {
  // A client's traceparent makes vigil's spans part of the client's trace.
  const parent = propagation.extract(context.active(), req.headers);
  // The OTel HTTP server conventions' attributes. The path only: a query string could carry a
  // credential (the route stage refuses those, but this span starts before it).
  const attributes = {
    'http.request.method': req.method ?? '',
    'url.path': (req.url ?? '').split('?', 1)[0],
    'url.scheme': 'http',
    'network.protocol.version': req.httpVersion,
    'server.port': req.socket.localPort ?? 0,
    'client.address': req.socket.remoteAddress ?? '',
  };
  return tracer().startSpan(req.method ?? 'HTTP', { kind: SpanKind.SERVER, attributes }, parent);
}

function endRequestSpan(span: Span, ctx: RequestContext): void {
  const status = ctx.res.statusCode;
  if (ctx.route) {
    const template = routeTemplate(ctx.route);
    span.updateName(`${ctx.req.method} ${template}`);
    span.setAttribute('http.route', template);
    if ('model' in ctx.route) span.setAttributes({ 'vigil.model': ctx.route.model, 'vigil.version': ctx.target?.version ?? ctx.route.version ?? '' });
  }
  span.setAttributes({ 'http.response.status_code': status, 'vigil.request_id': ctx.id });
  if (ctx.principal) span.setAttribute('vigil.principal', ctx.principal.id);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** One span per stage, named for it; a stage that rejects marks its span with the error code. */
async function runStage(stage: Stage, ctx: RequestContext, parent: Span | undefined): Promise<void> {
  // No exporter configured: OTel's spans are no-ops, so skip the per-stage wrapping entirely.
  if (!parent || !parent.isRecording()) {
    // Most stages are synchronous: await only real promises, sparing a microtask hop each.
    const pending = stage(ctx);
    if (pending) await pending;
    return;
  }
  const span = tracer().startSpan(`vigil.${stage.name}`);
  try {
    await context.with(trace.setSpan(context.active(), span), async () => {
      const pending = stage(ctx);
      if (pending) await pending;
    });
  } catch (err) {
    const code = err instanceof VigilError ? err.code : 'INTERNAL_ERROR';
    span.setAttribute('vigil.error.code', code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    throw err;
  } finally {
    span.end();
  }
}
