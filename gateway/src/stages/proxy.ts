import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { context, propagation, type Context } from '@opentelemetry/api';
import { createProxyMiddleware, proxyEventsPlugin, type RequestHandler } from 'http-proxy-middleware';
import type { Pool } from '../../../serving/src/supervisor/pool.js';
import type { WorkerSlot } from '../../../serving/src/supervisor/worker-slot.js';
import type { RequestContext } from '../context.js';
import { VigilError } from '../errors.js';
import { CLIENT_CLOSED_STATUS, type Responder } from '../respond.js';
import { BATCH_HEADER, COMPUTE_HEADER, QUEUE_HEADER } from '../../../serving/src/worker/pool-headers.js';
import { SCREEN_HEADER } from '../../../detectors/src/squeeze/pool-screen.js';

/** Request headers a pool may see. Credentials, cookies and hop-by-hop headers never reach it. */
const FORWARDED_HEADERS = new Set(['content-type', 'content-length', 'traceparent', 'tracestate', 'x-request-id']);
/** Socket-level failures that mean the worker is gone (died mid-request, or before we noticed). */
const WORKER_GONE = new Set(['ECONNRESET', 'ECONNREFUSED', 'ENOENT', 'EPIPE', 'ECONNABORTED']);

interface InFlight {
  ctx: RequestContext;
  traceContext: Context;
  pool: Pool;
  proxyReq?: ClientRequest;
  fail: (err: VigilError) => void;
  answer: (status: number, body: Buffer, screenHeader: string | string[] | undefined) => void;
}

/** Pool answers are a few KB; anything past this is a broken pool, not an answer. */
const MAX_POOL_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * proxy stage (infer only): forwards the validated bytes to the least-busy live worker of the
 * model's pool over its Unix socket, with keep-alive. The pool's answer is held until its audit
 * record is written, then sent (fail closed: no answer without a record). A worker that dies
 * mid-request fails that request at once with 503 POOL_RESTARTING, never a hang.
 */
export function createProxyStage(opts: {
  timeoutMs: number;
  responder: Responder;
  /** Judges the pool's screening of a successful answer before it is sent; throws to refuse it. */
  screenAnswer?: (ctx: RequestContext, header: string | string[] | undefined) => Promise<void>;
}) {
  const handlers = new Map<string, RequestHandler>();
  const inflight = new WeakMap<IncomingMessage, InFlight>();

  function handlerFor(worker: WorkerSlot): RequestHandler {
    let handler = handlers.get(worker.socketPath);
    if (handler) return handler;
    handler = createProxyMiddleware<IncomingMessage, ServerResponse>({
      target: { socketPath: worker.socketPath } as unknown as string,
      agent: new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 }),
      // Only the plugin that wires `on`: no default logging or error pages, errors go through renderError.
      ejectPlugins: true,
      plugins: [proxyEventsPlugin],
      selfHandleResponse: true,
      on: {
        proxyReq(proxyReq, req) {
          const state = inflight.get(req);
          if (!state) return;
          state.proxyReq = proxyReq;
          for (const name of proxyReq.getHeaderNames()) {
            if (!FORWARDED_HEADERS.has(name)) proxyReq.removeHeader(name);
          }
          proxyReq.setHeader('host', 'pool'); // HTTP/1.1 requires one; the client's is no business of the pool's
          const body = state.ctx.body!.raw;
          proxyReq.setHeader('content-length', body.length);
          proxyReq.setHeader('x-request-id', state.ctx.id);
          // The pool's spans join the request's trace, under this stage's span.
          const carrier: Record<string, string> = {};
          propagation.inject(state.traceContext, carrier);
          for (const [name, value] of Object.entries(carrier)) proxyReq.setHeader(name, value);
          // The request stream was consumed by the body stage; http-proxy's pipe of the ended
          // stream only ends proxyReq, after these exact bytes.
          proxyReq.write(body);
        },
        proxyRes(proxyRes, req) {
          const state = inflight.get(req);
          if (!state) return void proxyRes.resume();
          const chunks: Buffer[] = [];
          let size = 0;
          proxyRes.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_POOL_RESPONSE_BYTES) {
              proxyRes.destroy();
              state.fail(new VigilError('POOL_ERROR', 'the model pool sent an oversized answer'));
            } else chunks.push(chunk);
          });
          proxyRes.on('end', () => {
            state.ctx.poolAnsweredAt = process.hrtime.bigint();
            const { ctx } = state;
            const compute = Number(proxyRes.headers[COMPUTE_HEADER]);
            if (Number.isFinite(compute) && compute >= 0) ctx.poolComputeSeconds = compute / 1000;
            const queued = Number(proxyRes.headers[QUEUE_HEADER]);
            if (Number.isFinite(queued) && queued >= 0) ctx.poolQueueSeconds = queued / 1000;
            const items = Number(proxyRes.headers[BATCH_HEADER]);
            if (Number.isInteger(items) && items > 0) ctx.poolBatchItems = items;
            state.answer(proxyRes.statusCode ?? 502, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), proxyRes.headers[SCREEN_HEADER]);
          });
          proxyRes.on('error', () => state.fail(new VigilError('POOL_RESTARTING', 'the model pool worker stopped while answering', { 'retry-after': String(state.pool.retryAfterSeconds()) })));
        },
        error(err, req) {
          const state = inflight.get(req as IncomingMessage);
          const code = (err as NodeJS.ErrnoException).code ?? '';
          if (!state) return;
          state.fail(
            WORKER_GONE.has(code) || /socket hang up/.test(err.message)
              ? new VigilError('POOL_RESTARTING', 'the model pool worker stopped while handling this request; it is being restarted', {
                  'retry-after': String(state.pool.retryAfterSeconds()),
                })
              : new VigilError('POOL_ERROR', `the model pool failed: ${code || err.message}`),
          );
        },
      },
    });
    handlers.set(worker.socketPath, handler);
    return handler;
  }

  return function proxy(ctx: RequestContext): Promise<void> | void {
    if (ctx.route?.action !== 'model.infer' || ctx.target?.status !== 'serving' || !ctx.body) return;
    const { model, version, pool } = ctx.target;
    const worker = pool.pick();
    if (!worker) throw unavailable(pool);
    const { req, res } = ctx;
    ctx.answered = true; // from here on this stage (or renderError) owns the answer
    req.url = `/v2/models/${model}/versions/${version}/infer`;
    // The parsed tensors are not needed past screening (its rows are kept in ctx.screen); don't hold them across the round trip.
    ctx.body!.request = undefined;
    worker.inflight++;
    ctx.proxiedAt = process.hrtime.bigint();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = () => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        worker.inflight--;
        return true;
      };
      const timer = setTimeout(() => {
        state.proxyReq?.destroy();
        state.fail(new VigilError('POOL_TIMEOUT', `the model pool did not answer within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
      const state: InFlight = {
        ctx,
        traceContext: context.active(),
        pool,
        fail: (err) => {
          if (settle()) reject(err);
        },
        answer: (status, body, screenHeader) => {
          if (!settle()) return;
          const screened = status === 200 && opts.screenAnswer ? opts.screenAnswer(ctx, screenHeader) : Promise.resolve();
          screened
            .then(() => opts.responder.send(ctx, status, { 'content-type': 'application/json' }, body, status >= 400 ? poolErrorCode(body) : undefined))
            .then(resolve, reject);
        },
      };
      inflight.set(req, state);
      // A client that goes away mid-request: stop the pool's work on it (freeing its slot honestly)
      // and audit that it ended unanswered.
      res.once('close', () => {
        if (!settle()) return;
        state.proxyReq?.destroy();
        opts.responder.record(ctx, CLIENT_CLOSED_STATUS, 'CLIENT_CLOSED').then(resolve, resolve);
      });
      void handlerFor(worker)(req, res, (err?: unknown) => state.fail(new VigilError('POOL_ERROR', `proxy failure: ${String(err)}`)));
    });
  };
}

/** The stable code of a pool's error answer, for the audit record. */
function poolErrorCode(body: Buffer): string {
  try {
    const code = (JSON.parse(body.toString('utf8')) as { code?: unknown }).code;
    return typeof code === 'string' ? code : 'POOL_ERROR';
  } catch {
    return 'POOL_ERROR';
  }
}

function unavailable(pool: Pool): VigilError {
  if (pool.status === 'quarantined') {
    return new VigilError('POOL_QUARANTINED', 'the model pool kept crashing and is quarantined; an operator must restart it');
  }
  const seconds = pool.retryAfterSeconds();
  return new VigilError('POOL_RESTARTING', `the model pool is restarting; retry in ${seconds} s`, { 'retry-after': String(seconds) });
}
