import { context, propagation } from '@opentelemetry/api';
import { BackendError, type Backend } from '../../../serving/src/backend.js';
import type { RequestContext, TargetContext } from '../context.js';
import { ERRORS, isErrorCode, VigilError, type ErrorCode } from '../errors.js';
import { CLIENT_CLOSED_STATUS, type Responder } from '../respond.js';
import { refuse, type Stage } from '../stage.js';

/** Why a request's backend call was cut short by the gateway itself. */
class ClientGone extends Error {}

/**
 * proxy stage (inference): hands the validated bytes to the model version's backend (its pool)
 * and keeps the answer on the context for screen-answer and send. The backend builds the pool
 * request itself; nothing of the client's request but the validated body reaches it. A worker
 * that dies mid-request fails that request at once with 503 POOL_RESTARTING, never a hang; a
 * client that leaves cancels the pool's work on it. A pool's error answer becomes a catalogue
 * error here, so no pool's own body or code reaches a client unchecked.
 */
export function createProxyStage(opts: { timeoutMs: number; responder: Responder }): Stage<TargetContext> {
  return {
    name: 'proxy',
    async run(ctx) {
      // An answer already there came from the response cache.
      if (!ctx.body || ctx.answer) return;
      const { model, version, backend } = ctx.target;
      const body = ctx.body.raw;
      // A remote backend reads the parsed request (to plan squeezed rows); a local pool does not,
      // and the tensors are not needed past screening: don't hold them across its round trip.
      const parsed = backend.kind === 'oip-http' ? ctx.body.request : undefined;
      // The client's own deadline (Triton's `timeout` parameter, in microseconds; 0: none) can only shorten vigil's.
      const asked = ctx.body.request?.parameters?.timeout;
      const own = typeof asked === 'number' && asked > 0 && asked / 1000 < opts.timeoutMs;
      const timeoutMs = own ? Math.max(1, Math.ceil(asked / 1000)) : opts.timeoutMs;
      ctx.body.request = undefined;
      const trace = traceHeaders(ctx);

      const abort = new AbortController();
      // The caller's own deadline is its code, so its 504s are never taken for vigil's failures.
      // Made only when the deadline passes: an Error per request (its stack captured) cost ~20 µs.
      const late = () => (own ? new VigilError('DEADLINE_EXCEEDED', `the model pool did not answer within the request's timeout of ${asked} µs`) : new VigilError('POOL_TIMEOUT', `the model pool did not answer within ${timeoutMs} ms`));
      const timer = setTimeout(() => abort.abort(late()), timeoutMs);
      const onGone = () => abort.abort(new ClientGone());
      ctx.res.once('close', onGone);
      if (ctx.closed) onGone();
      ctx.proxiedAt = process.hrtime.bigint();
      let answer;
      try {
        const { headerLength } = ctx.body;
        const contentType = headerLength === undefined ? 'application/json' : 'application/octet-stream';
        answer = await backend.infer({ model, version, body, headerLength, parsed, contentType, requestId: ctx.id, trace }, abort.signal);
      } catch (err) {
        if (err instanceof ClientGone) {
          // Audit that it ended unanswered; the pool has dropped its work on it.
          ctx.answered = true;
          await opts.responder.record(ctx, CLIENT_CLOSED_STATUS, 'CLIENT_CLOSED');
          return;
        }
        if (err instanceof BackendError) return refuse(errorOf(err, backend), 'stage:proxy');
        throw err;
      } finally {
        clearTimeout(timer);
        ctx.res.off('close', onGone);
      }
      ctx.poolAnsweredAt = process.hrtime.bigint();
      const { report } = answer;
      if (report.computeMs !== undefined) ctx.poolComputeSeconds = report.computeMs / 1000;
      if (report.queueMs !== undefined) ctx.poolQueueSeconds = report.queueMs / 1000;
      if (report.batchItems !== undefined) ctx.poolBatchItems = report.batchItems;
      // Anything but 200 is a failure: a 1xx/3xx/other 2xx answer would skip screen-answer.
      if (answer.status !== 200) return refuse(poolError(answer.status, answer.body), 'stage:proxy');
      ctx.answer = { status: answer.status, body: answer.body, headerLength: answer.headerLength, screenReport: report.screen };
    },
  };
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const MAX_TRACESTATE = 512;

/**
 * The trace context the pool's spans join: this request's span when traces are on; otherwise the
 * client's own, if well-formed (W3C Trace Context), so a client's trace still reaches the pool.
 */
function traceHeaders(ctx: RequestContext): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (carrier.traceparent) return carrier;
  const { traceparent, tracestate } = ctx.req.headers;
  if (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent)) return {};
  carrier.traceparent = traceparent;
  if (typeof tracestate === 'string' && tracestate.length <= MAX_TRACESTATE) carrier.tracestate = tracestate;
  return carrier;
}

/** The client-facing error for a backend that could not answer. */
export function errorOf(err: BackendError, backend: Backend): VigilError {
  const retry = { 'retry-after': String(err.retryAfterSeconds ?? backend.retryAfterSeconds()) };
  switch (err.kind) {
    case 'quarantined':
      return err.retryAfterSeconds === undefined
        ? new VigilError('POOL_QUARANTINED', 'the model pool kept crashing and is quarantined; an operator must restart it')
        : new VigilError('POOL_QUARANTINED', `the model pool kept crashing and is quarantined; it will be tried again in ${err.retryAfterSeconds} s, or when an operator restarts it`, retry);
    case 'unavailable':
      return new VigilError('POOL_RESTARTING', `the model pool is restarting; retry in ${retry['retry-after']} s`, retry);
    case 'gone':
      return new VigilError('POOL_RESTARTING', 'the model pool worker stopped while handling this request; it is being restarted', retry);
    case 'overloaded':
      return new VigilError('OVERLOADED', `${err.message}; retry in ${retry['retry-after']} s`, retry);
    case 'down':
      return new VigilError('BACKEND_UNAVAILABLE', `${err.message}; retry in ${retry['retry-after']} s`, retry);
    case 'timeout':
      return new VigilError('POOL_TIMEOUT', err.message);
    case 'failed':
      return new VigilError('POOL_ERROR', err.message);
  }
}

/** Longest pool error message passed on: a pool's text is bounded like any other field. */
const MAX_POOL_MESSAGE = 512;

/**
 * The codes a pool answers with on its own (its validation repeats the gateway's): only these pass
 * through, and only with the status the catalogue gives them. Any other code, or a status that does
 * not match, would let a pool speak for the gateway (a 503 AUDIT_UNAVAILABLE, a 401 with a link):
 * it becomes 502 POOL_ERROR with a fixed message.
 */
const POOL_CODES = new Set<ErrorCode>([
  'INVALID_INFERENCE_REQUEST', 'UNKNOWN_INPUT', 'MISSING_INPUT', 'DUPLICATE_INPUT', 'DATATYPE_MISMATCH', 'SHAPE_MISMATCH', 'BATCH_TOO_LARGE',
  'ELEMENT_COUNT_MISMATCH', 'INVALID_ELEMENT', 'NON_FINITE_VALUE', 'VALUE_OUT_OF_RANGE', 'UNKNOWN_OUTPUT', 'FIELD_TOO_LARGE',
  'INVALID_JSON', 'INVALID_BINARY_DATA', 'JSON_TOO_DEEP', 'BODY_TOO_LARGE', 'INFERENCE_FAILED',
]);

/** A pool's error answer as a catalogue error (see POOL_CODES); its message kept, bounded. */
export function poolError(status: number, body: Buffer): VigilError {
  let code: unknown;
  let message: unknown;
  try {
    ({ code, error: message } = JSON.parse(body.toString('utf8')) as { code?: unknown; error?: unknown });
  } catch {
    // not JSON: a pool's failure all the same
  }
  if (typeof code === 'string' && isErrorCode(code) && POOL_CODES.has(code) && ERRORS[code].status === status) {
    return new VigilError(code, typeof message === 'string' ? message.slice(0, MAX_POOL_MESSAGE) : code);
  }
  return new VigilError('POOL_ERROR', `the model pool answered ${status} with no error vigil passes on`);
}
