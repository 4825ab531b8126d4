/**
 * The pool leg behind one interface: the gateway hands a backend the exact bytes it validated and
 * gets an answer or a typed failure. A local pool (LocalPoolBackend) or a remote OIP server
 * (RemoteOipBackend). The gateway never builds a request to a model server itself.
 */
import type { InferenceRequest } from '../../oip/src/signature.js';

/** ready: all capacity up; degraded: some; unavailable: none right now; quarantined: given up on. */
export type BackendStatus = 'ready' | 'degraded' | 'unavailable' | 'quarantined';

export interface InferRequest {
  model: string;
  version: string;
  /** The validated body, forwarded byte for byte. */
  body: Buffer;
  /** Bytes of JSON before binary tensor data, when the body has any (Inference-Header-Content-Length). */
  headerLength?: number;
  /** The same request as the gateway parsed it, where it still has it (a remote backend reads it). */
  parsed?: InferenceRequest;
  contentType: string;
  /** vigil's own request id (never the client's), for the pool's logs. */
  requestId: string;
  /** W3C trace context (traceparent, tracestate) so the backend's spans join the request's trace. */
  trace: Record<string, string>;
}

/** What the pool reported of its own work; a server that does not report it leaves these out. */
export interface PoolReport {
  computeMs?: number;
  queueMs?: number;
  batchItems?: number;
  /** The pool's screening report (feature squeezing), as sent. */
  screen?: string;
}

export interface InferAnswer {
  status: number;
  body: Buffer;
  /** Bytes of JSON before binary tensor data, when the answer has any. */
  headerLength?: number;
  report: PoolReport;
}

/**
 * Why a backend could not answer. `unavailable`: nothing can take the request now (restarting or
 * quarantined); `gone`: the worker died with the request on it; `overloaded`: the backend's queue
 * is full; `timeout`: no answer before the deadline; `down`: a remote server cannot be reached,
 * fails its health checks or its circuit is open; `failed`: anything else (a broken answer).
 */
export type BackendFailure = 'unavailable' | 'quarantined' | 'gone' | 'overloaded' | 'timeout' | 'down' | 'failed';

export class BackendError extends Error {
  constructor(
    readonly kind: BackendFailure,
    message: string,
    /** Seconds a client should wait before retrying, where that is known. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

export interface Backend {
  readonly kind: 'local' | 'oip-http';
  readonly status: BackendStatus;
  /** Seconds a client should wait before retrying while the backend is not ready: at least 1. */
  retryAfterSeconds(): number;
  /** Requests in flight and how many the backend takes at once before refusing (`overloaded`). */
  load(): { inflight: number; capacity: number };
  /**
   * Sends one validated request. Aborting `signal` (client gone, deadline) cancels it at the
   * backend; the promise then rejects with the signal's reason.
   */
  infer(request: InferRequest, signal: AbortSignal): Promise<InferAnswer>;
  /** What an operator sees of it on the admin port's /status (workers, or the remote's health and circuit). */
  describe(): Record<string, unknown>;
  /** Closes connections; in-flight requests fail. */
  close(): Promise<void>;
}
