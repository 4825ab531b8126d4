// The request pipeline. Every request runs the front stages; its route then picks one list:
//
//   front      overload → drain → framing → audit-health* → route
//   server     authenticate → quarantine → authorize → admit → answer          (health, server metadata)
//   model      authenticate → quarantine → select-version → authorize → resolve → admit → answer
//   inference  authenticate → quarantine → select-version → authorize → resolve → admit → queue
//              → body → items → screen → cache-lookup → proxy → cache-store → shadow → screen-answer → shape-answer → send
//
//   * with audit.on_failure: fail_closed
//
// Nothing about a model is revealed before authorize; a caller over its limits is refused before
// its body is read, and its items are charged once the body is validated (an inference costs its
// batch size); nothing reaches a pool before every earlier stage said yes, and no answer leaves
// before screen-answer judged it and its audit record is written. Each stage is one file under
// stages/, named as above; the runner below owns what they share (modes, refusals, spans).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { tracer } from '../../serving/src/tracing.js';
import { VigilError } from './errors.js';
import { routeTemplate } from './telemetry/request-metrics.js';
import { peerAddress, type SourceOf } from './client-address.js';
import { createContext, type Authenticated, type ModelContext, type RequestContext, type RoutedContext, type TargetContext } from './context.js';
import { renderError } from './render-error.js';
import type { Responder } from './respond.js';
import type { Stage, Verdict } from './stage.js';


/** Every stage vigil has, built once (vigil.ts); the lists arrange them. */
export interface StageSet {
  overload: Stage;
  drain: Stage;
  framing: Stage;
  auditHealth?: Stage;
  route: Stage;
  authenticate: Stage;
  quarantine: Stage;
  selectVersion: Stage<ModelContext>;
  authorize: Stage<RoutedContext & Authenticated>;
  resolve: Stage<ModelContext>;
  admit: Stage<RequestContext & Authenticated>;
  queue: Stage<TargetContext>;
  body: Stage<TargetContext>;
  items: Stage<TargetContext & Authenticated>;
  screen: Stage<TargetContext>;
  cacheLookup: Stage<TargetContext>;
  proxy: Stage<TargetContext>;
  cacheStore: Stage<TargetContext>;
  shadow: Stage<TargetContext>;
  screenAnswer: Stage<TargetContext>;
  shapeAnswer: Stage<TargetContext>;
  send: Stage;
  answer: Stage<RoutedContext>;
}

/**
 * The lists a request runs. Each list's context type is what its stages may rely on: a stage
 * runs only after the stages before it in its list established its part (route, principal,
 * target). A benchmark passes its own lists (without the security chain, say) through VigilSeams.
 */
export interface StageLists {
  front: Stage[];
  server: Stage<RoutedContext & Authenticated>[];
  model: Stage<ModelContext & Authenticated>[];
  inference: Stage<TargetContext & Authenticated>[];
}

/** vigil's own lists, as the diagram above draws them. */
export function vigilStageLists(s: StageSet): StageLists {
  const caller = [s.authenticate, s.quarantine];
  return {
    front: [s.overload, s.drain, s.framing, ...(s.auditHealth ? [s.auditHealth] : []), s.route],
    server: [...caller, s.authorize, s.admit, s.answer],
    model: [...caller, s.selectVersion, s.authorize, s.resolve, s.admit, s.answer],
    inference: [...caller, s.selectVersion, s.authorize, s.resolve, s.admit, s.queue, s.body, s.items, s.screen, s.cacheLookup, s.proxy, s.cacheStore, s.shadow, s.screenAnswer, s.shapeAnswer, s.send],
  };
}

/**
 * Runs the front stages, then the list the route picks, until one answers or refuses; every
 * failure, from any stage, leaves through renderError, and every answer through the responder
 * (which audits it).
 */
export function createPipeline(lists: StageLists, responder: Responder, log: Logger, sourceOf: SourceOf = peerAddress) {
  const listFor = (ctx: RequestContext): Stage[] => {
    const route = ctx.route;
    if (!route) throw new Error('the front stages set no route');
    return (route.action === 'model.infer' ? lists.inference : 'model' in route ? lists.model : lists.server) as Stage[];
  };
  return async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<RequestContext> {
    const ctx = createContext(req, res, sourceOf(req));
    // Health probes make no spans: a load balancer polling every second would drown the traces.
    const span = req.url?.startsWith('/v2/health/') ? undefined : startRequestSpan(req);
    const run = async () => {
      try {
        if (!(await runList(lists.front, ctx, span))) {
          await runList(listFor(ctx), ctx, span);
          if (!ctx.answered) throw new Error('no stage answered the request');
        }
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

/** Runs stages in order; true once one has answered the request. */
async function runList(stages: readonly Stage[], ctx: RequestContext, parent: Span | undefined): Promise<boolean> {
  for (const stage of stages) {
    await runStage(stage, ctx, parent);
    if (ctx.answered) return true;
  }
  return false;
}

/**
 * One stage: its verdict applied (shadow refusals recorded, the first enforced one thrown, with
 * who refused), in a span named for it when traces are on.
 */
async function runStage(stage: Stage, ctx: RequestContext, parent: Span | undefined): Promise<void> {
  // No exporter configured: OTel's spans are no-ops, so skip the per-stage wrapping entirely.
  if (!parent || !parent.isRecording()) return judge(stage, ctx);
  const span = tracer().startSpan(`vigil.${stage.name}`);
  try {
    await context.with(trace.setSpan(context.active(), span), () => judge(stage, ctx));
  } catch (err) {
    const code = err instanceof VigilError ? err.code : 'INTERNAL_ERROR';
    span.setAttribute('vigil.error.code', code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    throw err;
  } finally {
    span.end();
  }
}

async function judge(stage: Stage, ctx: RequestContext): Promise<void> {
  let verdict: Verdict;
  try {
    const pending = stage.run(ctx);
    // Most stages are synchronous: await only real promises, sparing a microtask hop each.
    verdict = pending instanceof Promise ? await pending : pending;
  } catch (err) {
    // Thrown from deeper code (a parser, the registry), or a bug: refused at this stage. The audit
    // record's rule stays the one that decided (the policy's), as no rule refused it.
    ctx.refusedAt ??= stage.name;
    throw err;
  }
  if (!verdict) return;
  let enforced;
  for (const refusal of Array.isArray(verdict) ? verdict : [verdict]) {
    if (refusal.mode === 'shadow') ctx.shadowDenials.push(refusal.rule);
    else enforced ??= refusal;
  }
  if (!enforced) return;
  ctx.refusedBy = enforced.rule;
  ctx.refusedAt = stage.name;
  throw enforced.error;
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

