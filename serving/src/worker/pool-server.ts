import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { tracer } from '../tracing.js';
import type { ModelSignature } from '../oip/signature.js';
import { validateInferenceRequest } from '../oip/validate-request.js';
import { screenBatch } from '../../../detectors/src/screen-batch.js';
import { poolScreenReport, poolScreenRows, SCREEN_HEADER, type PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import type { InferenceRequest } from '../oip/signature.js';
import type { OnnxRunner, OutputTensor } from './onnx-runner.js';

export interface PoolServerOptions {
  model: string;
  version: string;
  signature: ModelSignature;
  runner: OnnxRunner;
  maxBodyBytes: number;
  screen?: PoolScreenSpec;
  onError: (err: unknown) => void;
}

class PoolHttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Milliseconds ONNX Runtime took for this request; the gateway turns it into a metric and drops it. */
export const COMPUTE_HEADER = 'x-vigil-compute-ms';

/**
 * The pool's OIP server: only reachable through the private socket, so it trusts nothing less
 * than the gateway does (it validates again) but needs no routing beyond exact paths.
 */
export function createPoolServer(opts: PoolServerOptions): Server {
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
    if (req.method === 'GET' && (path === '/v2/health/live' || path === '/v2/health/ready')) return send(res, 200, '');
    if (req.method === 'GET' && path === base) return send(res, 200, metadata);
    if (req.method === 'GET' && path === `${base}/ready`) return send(res, 200, readyBody);
    if (path !== `${base}/infer`) throw new PoolHttpError(404, 'ROUTE_NOT_FOUND', `no such endpoint in this pool: ${path}`);
    if (req.method !== 'POST') throw new PoolHttpError(405, 'METHOD_NOT_ALLOWED', 'infer takes POST');

    const raw = await readBody(req, opts.maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(utf8.decode(raw));
    } catch (err) {
      throw new PoolHttpError(400, 'INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`);
    }
    const checked = validateInferenceRequest(body, opts.signature);
    if (!checked.ok) throw new PoolHttpError(400, checked.code, checked.message);
    // Joins the gateway's trace (its traceparent), with the ONNX Runtime run as a child span.
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer().startSpan('pool.infer', { kind: SpanKind.SERVER, attributes: { 'vigil.model': opts.model, 'vigil.version': opts.version, 'vigil.batch_size': checked.batchSize } }, parent);
    const run = tracer().startSpan('onnx.run', { attributes: { 'vigil.batch_size': checked.batchSize } }, trace.setSpan(parent, span));
    const started = performance.now();
    let outputs: OutputTensor[];
    const headers: Record<string, string> = {};
    try {
      if (opts.screen) {
        const screened = await runScreened(opts.runner, checked.request, opts.screen);
        outputs = screened.outputs;
        headers[SCREEN_HEADER] = screened.report;
        run.setAttribute('vigil.screen.rows', screened.rows);
      } else outputs = await opts.runner.run(checked.request);
    } catch (err) {
      run.setStatus({ code: SpanStatusCode.ERROR });
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      run.end();
      span.end();
    }
    const computeMs = performance.now() - started;
    const response: Record<string, unknown> = { model_name: opts.model, model_version: opts.version };
    if (checked.request.id !== undefined) response.id = checked.request.id;
    response.outputs = outputs;
    send(res, 200, JSON.stringify(response), { ...headers, [COMPUTE_HEADER]: computeMs.toFixed(3) });
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof PoolHttpError) return send(res, err.status, JSON.stringify({ error: err.message, code: err.code }));
      opts.onError(err);
      send(res, 500, JSON.stringify({ error: 'inference failed inside the pool', code: 'INFERENCE_FAILED' }));
    });
  });
}

/**
 * The inference and its screening in one ONNX Runtime run: the request's rows and their squeezed
 * copies go in as one batch (Xu et al.'s squeezers need the model's outputs on each copy), the
 * client's outputs come from the first rows, and the scores travel back in a header.
 */
async function runScreened(runner: OnnxRunner, request: InferenceRequest, spec: PoolScreenSpec) {
  const { rows } = screenBatch(request, spec.features);
  const all = poolScreenRows(rows, spec);
  const result = await runner.runRows(all, rows.length, runner.wantedOutputs(request), spec.probabilities);
  return { outputs: result.outputs, report: JSON.stringify(poolScreenReport(result.extra, rows.length, spec)), rows: all.length };
}

function send(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...extra, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new PoolHttpError(413, 'BODY_TOO_LARGE', `the body exceeds ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
