import { Pool as HttpPool, errors as undiciErrors } from 'undici';
import { SCREEN_HEADER } from '../../detectors/src/squeeze/pool-screen.js';
import { HEADER_LENGTH, headerLengthOf } from '../../oip/src/binary-data.js';
import { BackendError, type Backend, type BackendStatus, type InferAnswer, type InferRequest, type PoolReport } from './backend.js';
import type { Pool } from './supervisor/pool.js';
import type { WorkerSlot } from './supervisor/worker-slot.js';
import { BATCH_HEADER, COMPUTE_HEADER, QUEUE_HEADER } from './worker/pool-headers.js';

/** Pool answers are a few KB; anything past this is a broken pool, not an answer. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** Connections kept open to one worker; more concurrent requests queue in the client, not in sockets. */
export const CONNECTIONS_PER_WORKER = 64;
/** Socket-level failures that mean the worker is gone (died mid-request, or before we noticed). */
const WORKER_GONE = new Set(['ECONNRESET', 'ECONNREFUSED', 'ENOENT', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * A model version served by vigil's own supervised pool processes over their Unix sockets.
 *
 * The request to the pool is built here from the validated bytes and a fixed set of headers
 * (undici, one keep-alive connection pool per worker socket): nothing of the client's request is
 * forwarded, so no header can leak and no library event ordering can double-send. http-proxy
 * (under http-proxy-middleware) was dropped because it pipes the client's request itself and
 * skips its own hook for `Expect` requests (DESIGN.md, first-wave findings).
 *
 * It owns worker choice (least requests in flight) and the in-flight count, and bounds the
 * requests queued on the pool (`maxQueue`): past it, `overloaded` at once instead of a queue
 * that grows with the attack.
 */
export class LocalPoolBackend implements Backend {
  readonly kind = 'local';
  private readonly clients = new Map<string, HttpPool>();
  private inflight = 0;

  constructor(
    readonly pool: Pool,
    private readonly opts: { maxQueue: number },
  ) {}

  get status(): BackendStatus {
    return this.pool.status;
  }

  retryAfterSeconds(): number {
    return this.pool.retryAfterSeconds();
  }

  load() {
    return { inflight: this.inflight, capacity: this.opts.maxQueue };
  }

  describe() {
    return {
      backend: 'local',
      workers: this.pool.workers.map((w) => ({ index: w.index, state: w.state, pid: w.pid ?? null, inflight: w.inflight, restarts: w.restarts, reason: w.reason ?? null })),
    };
  }

  async infer(request: InferRequest, signal: AbortSignal): Promise<InferAnswer> {
    if (signal.aborted) throw signal.reason;
    const worker = this.pool.pick();
    if (!worker) {
      if (this.pool.status === 'quarantined') {
        const trial = this.pool.nextTrialAt();
        const seconds = trial === undefined ? undefined : Math.max(1, Math.ceil((trial - Date.now()) / 1000));
        throw new BackendError('quarantined', `the pool of ${this.pool.key} kept crashing and is quarantined`, seconds);
      }
      throw new BackendError('unavailable', `the pool of ${this.pool.key} has no live worker; it is restarting`, this.retryAfterSeconds());
    }
    if (this.inflight >= this.opts.maxQueue) {
      throw new BackendError('overloaded', `the pool of ${this.pool.key} already has ${this.inflight} requests queued`, 1);
    }
    this.inflight++;
    worker.inflight++;
    try {
      return await this.send(worker, request, signal);
    } finally {
      this.inflight--;
      worker.inflight--;
    }
  }

  private async send(worker: WorkerSlot, request: InferRequest, signal: AbortSignal): Promise<InferAnswer> {
    const headers: Record<string, string> = {
      'content-type': request.contentType,
      'x-request-id': request.requestId,
    };
    if (request.headerLength !== undefined) headers[HEADER_LENGTH] = String(request.headerLength);
    for (const name of ['traceparent', 'tracestate']) if (request.trace[name]) headers[name] = request.trace[name];
    try {
      const r = await this.clientFor(worker).request({
        path: `/v2/models/${request.model}/versions/${request.version}/infer`,
        method: 'POST',
        headers,
        body: request.body,
        signal,
      });
      const body = Buffer.from(await r.body.arrayBuffer());
      const headerLength = headerLengthOf(r.headers[HEADER_LENGTH], body.length);
      if (typeof headerLength === 'object') throw new BackendError('failed', `the model pool sent a broken binary answer: ${headerLength.error}`);
      return { status: r.statusCode, body, headerLength, report: reportOf(r.headers) };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw this.failureOf(err);
    }
  }

  private failureOf(err: unknown): BackendError {
    if (err instanceof BackendError) return err;
    if (err instanceof undiciErrors.ResponseExceededMaxSizeError) return new BackendError('failed', 'the model pool sent an oversized answer');
    const code = (err as { code?: string }).code ?? '';
    if (WORKER_GONE.has(code)) {
      return new BackendError('gone', 'the model pool worker stopped while handling this request; it is being restarted', this.retryAfterSeconds());
    }
    return new BackendError('failed', `the model pool failed: ${code || (err as Error).message}`);
  }

  private clientFor(worker: WorkerSlot): HttpPool {
    let client = this.clients.get(worker.socketPath);
    if (!client) {
      client = new HttpPool('http://pool', {
        socketPath: worker.socketPath,
        connections: CONNECTIONS_PER_WORKER,
        pipelining: 1,
        maxResponseSize: MAX_ANSWER_BYTES,
        // The deadline is the caller's signal; these only guard against a silent socket.
        headersTimeout: 0,
        bodyTimeout: 0,
        keepAliveTimeout: 10_000,
      });
      this.clients.set(worker.socketPath, client);
    }
    return client;
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.destroy().catch(() => undefined)));
  }
}

function reportOf(headers: Record<string, string | string[] | undefined>): PoolReport {
  const report: PoolReport = {};
  const compute = Number(headers[COMPUTE_HEADER]);
  if (headers[COMPUTE_HEADER] !== undefined && Number.isFinite(compute) && compute >= 0) report.computeMs = compute;
  const queued = Number(headers[QUEUE_HEADER]);
  if (headers[QUEUE_HEADER] !== undefined && Number.isFinite(queued) && queued >= 0) report.queueMs = queued;
  const items = Number(headers[BATCH_HEADER]);
  if (Number.isInteger(items) && items > 0) report.batchItems = items;
  const screen = headers[SCREEN_HEADER];
  if (typeof screen === 'string') report.screen = screen;
  return report;
}
