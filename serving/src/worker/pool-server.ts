import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import { tracer } from '../tracing.js';
import type { ModelSignature } from '../../../oip/src/signature.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../../oip/src/json-depth.js';
import { validateInferenceRequest } from '../../../oip/src/validate-request.js';
import { screenBatch } from '../../../detectors/src/screen-batch.js';
import { poolScreenReport, poolScreenRows, SCREEN_HEADER, type PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import type { InferenceRequest } from '../../../oip/src/signature.js';
import { OnnxRunner, rowsOf, type Feeds, type RawOutput } from './onnx-runner.js';
import { CancelledError, DynamicBatcher, type BatchTiming } from './batcher.js';
import type { BatchingSpec } from './worker-spec.js';
import { BATCH_HEADER, COMPUTE_HEADER, QUEUE_HEADER } from './pool-headers.js';
import { readBodyWithin, sendAnswer, sendJson } from '../http-body.js';
import { HEADER_LENGTH, headerLengthOf } from '../../../oip/src/binary-data.js';
import { answerFormOf } from '../../../oip/src/answer-form.js';
import { encodeAnswer } from '../../../oip/src/infer-answer.js';

export interface PoolServerOptions {
  model: string;
  version: string;
  signature: ModelSignature;
  runner: OnnxRunner;
  maxBodyBytes: number;
  screen?: PoolScreenSpec;
  /** Dynamic batching; absent: one request per run. */
  batching?: BatchingSpec;
  /**
   * A run busy for longer than this is stuck (every request in it has timed out at the gateway):
   * the worker then reports itself not ready, and the supervisor replaces it.
   */
  runTimeoutMs: number;
  onError: (err: unknown) => void;
}

class PoolHttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The pool's OIP server: only reachable through the private socket, so it trusts nothing less
 * than the gateway does (it validates again) but needs no routing beyond exact paths.
 */
export function createPoolServer(opts: PoolServerOptions): Server {
  const batcher = new DynamicBatcher<Part, Record<string, RawOutput>>({
    maxItems: opts.batching?.maxItems ?? 0,
    maxQueueDelayMs: opts.batching?.maxQueueDelayMs ?? 0,
    run: (parts, started) => runParts(opts.runner, parts, started),
  });
  const base = `/v2/models/${opts.model}/versions/${opts.version}`;
  const metadata = JSON.stringify({
    name: opts.model,
    versions: [opts.version],
    platform: 'onnx_onnxv1',
    inputs: opts.signature.inputs,
    outputs: opts.signature.outputs,
  });
  const readyBody = JSON.stringify({ name: opts.model, ready: true });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '';
    if (req.method === 'GET' && (path === '/v2/health/live' || path === '/v2/health/ready')) {
      // ONNX Runtime runs off the event loop, so a hung run leaves this answering: say so instead.
      const busy = batcher.busyFor();
      if (busy > opts.runTimeoutMs) return sendJson(res, 503, JSON.stringify({ error: `the model has been running one batch for ${Math.round(busy)} ms`, code: 'RUN_STUCK' }));
      return sendJson(res, 200, '');
    }
    if (req.method === 'GET' && path === base) return sendJson(res, 200, metadata);
    if (req.method === 'GET' && path === `${base}/ready`) return sendJson(res, 200, readyBody);
    if (path !== `${base}/infer`) throw new PoolHttpError(404, 'ROUTE_NOT_FOUND', `no such endpoint in this pool: ${path}`);
    if (req.method !== 'POST') throw new PoolHttpError(405, 'METHOD_NOT_ALLOWED', 'infer takes POST');

    const received = performance.now();
    // A client that leaves (the gateway gave up on it) before its run starts is dropped from the queue.
    const signal = { cancelled: false };
    res.once('close', () => (signal.cancelled = true));
    const raw = await readBody(req, opts.maxBodyBytes);
    // Binary tensor data (the gateway forwards it as the client sent it): a JSON header, then bytes.
    const headerLength = headerLengthOf(req.headers[HEADER_LENGTH], raw.length);
    if (typeof headerLength === 'object') throw new PoolHttpError(400, 'INVALID_BINARY_DATA', headerLength.error);
    const json = headerLength === undefined ? raw : raw.subarray(0, headerLength);
    if (nestsDeeperThan(json, MAX_JSON_DEPTH)) throw new PoolHttpError(400, 'JSON_TOO_DEEP', `the JSON nests more than ${MAX_JSON_DEPTH} levels deep`);
    let body: unknown;
    try {
      body = JSON.parse(utf8.decode(json));
    } catch (err) {
      throw new PoolHttpError(400, 'INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`);
    }
    const checked = validateInferenceRequest(body, opts.signature, headerLength === undefined ? undefined : raw.subarray(headerLength));
    if (!checked.ok) throw new PoolHttpError(400, checked.code, checked.message);
    // Joins the gateway's trace (its traceparent): queue wait, batch formation and the ONNX
    // Runtime run are children of this request's pool.infer span.
    const parent = propagation.extract(context.active(), req.headers);
    const attributes = { 'vigil.model': opts.model, 'vigil.version': opts.version, 'vigil.batch_size': checked.batchSize };
    const span = tracer().startSpan('pool.infer', { kind: SpanKind.SERVER, attributes, startTime: hrTime(received) }, parent);
    try {
      const part = prepare(opts.runner, checked.request, opts.screen);
      const { result, timing } = await batcher.submit(part, OnnxRunner.batchKey(part.feeds), checked.batchSize, signal);
      traceBatch(span, timing, part.feeds.rows);
      const outputs = opts.runner.toOutputs(result, part.wanted, part.answerRows);
      const headers: Record<string, string> = {
        [COMPUTE_HEADER]: (timing.finishedAt - timing.dispatchedAt).toFixed(3),
        [QUEUE_HEADER]: (timing.dispatchedAt - timing.enqueuedAt).toFixed(3),
        [BATCH_HEADER]: String(timing.batchItems),
      };
      if (opts.screen) headers[SCREEN_HEADER] = JSON.stringify(poolScreenReport(rowsOf(result[opts.screen.probabilities]), part.answerRows, opts.screen));
      const head: Record<string, unknown> = { model_name: opts.model, model_version: opts.version };
      if (checked.request.id !== undefined) head.id = checked.request.id;
      // Outputs the client wants in binary go as ONNX Runtime's bytes, never through JSON numbers.
      sendAnswer(res, encodeAnswer(head, outputs, answerFormOf(checked.request, opts.signature)?.binary), headers);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end(hrTime());
    }
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof CancelledError) return; // nobody is left to answer
      if (err instanceof PoolHttpError) return sendJson(res, err.status, JSON.stringify({ error: err.message, code: err.code }));
      opts.onError(err);
      sendJson(res, 500, JSON.stringify({ error: 'inference failed inside the pool', code: 'INFERENCE_FAILED' }));
    });
  });
}

interface Part {
  feeds: Feeds;
  /** The outputs the run must compute for this request (its own, and the probabilities screening reads). */
  names: string[];
  /** The outputs the client asked for, from the first `answerRows` rows. */
  wanted: string[];
  answerRows: number;
}

/**
 * A request as one part of a run. Screened, its rows and their squeezed copies go in together
 * (Xu et al.'s squeezers need the model's outputs on each copy); the client's outputs come from
 * the first rows and the scores travel back in a header.
 */
function prepare(runner: OnnxRunner, request: InferenceRequest, spec: PoolScreenSpec | undefined): Part {
  const wanted = runner.wantedOutputs(request);
  if (!spec) return { feeds: runner.feedsOf(request), names: wanted, wanted, answerRows: Infinity };
  const { rows } = screenBatch(request, spec.features);
  const names = wanted.includes(spec.probabilities) ? wanted : [...wanted, spec.probabilities];
  return { feeds: runner.rowFeeds(poolScreenRows(rows, spec)), names, wanted, answerRows: rows.length };
}

/** One run for all parts, computing every output any of them needs. */
function runParts(runner: OnnxRunner, parts: Part[], started: () => void) {
  const names = parts.length === 1 ? parts[0].names : [...new Set(parts.flatMap((p) => p.names))];
  return runner.run(
    parts.map((p) => p.feeds),
    names,
    started,
  );
}

/** The request's time in the pool as spans: waiting in the queue, its batch being formed, the run. */
function traceBatch(span: Span, t: BatchTiming, rows: number): void {
  const parent = trace.setSpan(context.active(), span);
  const batch = { 'vigil.batch.items': t.batchItems, 'vigil.batch.requests': t.batchRequests };
  // hrTime() converts with the one fixed time origin, so the spans line up to the microsecond.
  tracer().startSpan('pool.queue', { startTime: hrTime(t.enqueuedAt) }, parent).end(hrTime(t.dispatchedAt));
  tracer().startSpan('pool.batch', { startTime: hrTime(t.dispatchedAt), attributes: batch }, parent).end(hrTime(t.runStartedAt));
  tracer()
    .startSpan('onnx.run', { startTime: hrTime(t.runStartedAt), attributes: { ...batch, 'vigil.batch_size': t.batchItems, 'vigil.request.rows': rows } }, parent)
    .end(hrTime(t.finishedAt));
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return readBodyWithin(req, limit, () => new PoolHttpError(413, 'BODY_TOO_LARGE', `the body exceeds ${limit} bytes`));
}
