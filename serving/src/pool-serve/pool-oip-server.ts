import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BackendError, type Backend } from '../backend.js';
import { readBodyWithin, sendJson } from '../http-body.js';
import type { ModelSignature } from '../../../oip/src/signature.js';

const HANDSHAKE_TIMEOUT_MS = 5_000;

export interface PoolServeOptions {
  model: string;
  version: string;
  signature: ModelSignature;
  platform: string;
  backend: Backend;
  maxBodyBytes: number;
  /** A request not answered by then is cut off with 504 (the worker drops its run). */
  requestTimeoutMs: number;
  maxConnections: number;
  /** Server certificate and key, and the CA whose client certificates are let in (mutual TLS). Absent: plain HTTP. */
  tls?: { cert: Buffer; key: Buffer; clientCa: Buffer };
  onError: (err: unknown) => void;
}

/**
 * `vigil pool serve`: one model version's local pool, reachable over TCP as an Open Inference
 * Protocol server so pools can run on their own hosts (a Deployment of their own) behind a
 * gateway whose model.yaml names it as `backend: oip-http`. With TLS, every client must present a
 * certificate signed by the given CA (the handshake fails otherwise), so only the gateway reaches
 * the model. It does no authentication or screening of its own: that is the gateway's work.
 */
export function createPoolOipServer(opts: PoolServeOptions): Server {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    handle(opts, req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message, code: err.code }, err.headers);
      opts.onError(err);
      send(res, 500, { error: 'inference failed', code: 'INFERENCE_FAILED' });
    });
  };
  // A socket that never completes its handshake holds a connection slot: 5 s, not Node's 120.
  const server = opts.tls
    ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', handshakeTimeout: HANDSHAKE_TIMEOUT_MS } satisfies ServerOptions, handler)
    : createHttpServer(handler);
  server.maxConnections = opts.maxConnections;
  server.headersTimeout = 10_000;
  server.requestTimeout = opts.requestTimeoutMs + 5_000;
  // Longer than the gateway's own keep-alive (10 s), so the gateway, not the pool, closes an idle
  // connection: a pool closing one as the gateway reuses it would fail that request.
  server.keepAliveTimeout = 65_000;
  return server;
}

/**
 * The probes' port: plain HTTP, liveness and readiness only, never inference, so a kubelet (which
 * cannot present a client certificate) can probe a pool whose model port demands one.
 */
export function createPoolHealthServer(backend: Backend): Server {
  const server = createHttpServer((req, res) => {
    const ready = backend.status === 'ready' || backend.status === 'degraded';
    if (req.method === 'GET' && req.url === '/v2/health/live') return send(res, 200, { live: true });
    if (req.method === 'GET' && req.url === '/v2/health/ready') return send(res, ready ? 200 : 503, { ready });
    send(res, 404, { error: 'this port answers /v2/health/live and /v2/health/ready only', code: 'ROUTE_NOT_FOUND' });
  });
  server.maxConnections = 64;
  server.headersTimeout = 5_000;
  server.requestTimeout = 5_000;
  // A socket silent for this long is closed, so idle connections cannot crowd out the probes.
  server.timeout = 5_000;
  return server;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

async function handle(opts: PoolServeOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  const ready = opts.backend.status === 'ready' || opts.backend.status === 'degraded';
  const model = `/v2/models/${opts.model}`;
  const version = `${model}/versions/${opts.version}`;
  if (req.method === 'GET') {
    if (path === '/v2/health/live') return send(res, 200, { live: true });
    if (path === '/v2/health/ready') return send(res, ready ? 200 : 503, { ready });
    if (path === `${model}/ready` || path === `${version}/ready`) return send(res, ready ? 200 : 503, { name: opts.model, version: opts.version, ready });
    if (path === model || path === version) {
      return send(res, 200, { name: opts.model, versions: [opts.version], platform: opts.platform, inputs: opts.signature.inputs, outputs: opts.signature.outputs });
    }
  }
  if (path !== `${model}/infer` && path !== `${version}/infer`) throw new HttpError(404, 'ROUTE_NOT_FOUND', 'no such endpoint on this pool server');
  if (req.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'infer takes POST');
  const declared = Number(req.headers['content-length']);
  if (declared > opts.maxBodyBytes) throw new HttpError(413, 'BODY_TOO_LARGE', `the body exceeds ${opts.maxBodyBytes} bytes`);
  const body = await readBody(req, opts.maxBodyBytes);

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new HttpError(504, 'POOL_TIMEOUT', `no answer within ${opts.requestTimeoutMs} ms`)), opts.requestTimeoutMs);
  const gone = () => abort.abort(new HttpError(499, 'CLIENT_CLOSED', 'the client left'));
  res.once('close', gone);
  const requestId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'].slice(0, 128) : '';
  const trace: Record<string, string> = {};
  for (const name of ['traceparent', 'tracestate']) {
    const v = req.headers[name];
    if (typeof v === 'string' && v.length <= 512) trace[name] = v;
  }
  try {
    // The worker validates the request against the signature itself; its answer goes back as it is.
    const answer = await opts.backend.infer({ model: opts.model, version: opts.version, body, contentType: 'application/json', requestId, trace }, abort.signal);
    res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': answer.body.length });
    res.end(answer.body);
  } catch (err) {
    if (err instanceof BackendError) {
      const status = err.kind === 'overloaded' || err.kind === 'unavailable' || err.kind === 'quarantined' || err.kind === 'gone' ? 503 : err.kind === 'timeout' ? 504 : 502;
      const retry = err.retryAfterSeconds ?? opts.backend.retryAfterSeconds();
      throw new HttpError(status, `POOL_${err.kind.toUpperCase()}`, err.message, status === 503 ? { 'retry-after': String(retry) } : {});
    }
    throw err;
  } finally {
    clearTimeout(timer);
    res.off('close', gone);
  }
}

function send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  sendJson(res, status, JSON.stringify(body), headers);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return readBodyWithin(
    req,
    limit,
    () => new HttpError(413, 'BODY_TOO_LARGE', `the body exceeds ${limit} bytes`),
    () => new HttpError(400, 'CLIENT_CLOSED', 'the request body was cut off'),
  );
}
