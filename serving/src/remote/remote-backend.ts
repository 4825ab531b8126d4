import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Pool as HttpPool, errors as undiciErrors } from 'undici';
import type { PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import type { InferenceRequest, ModelSignature } from '../../../oip/src/signature.js';
import { BackendError, type Backend, type BackendStatus, type InferAnswer, type InferRequest } from '../backend.js';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { checkAnswer } from './oip-answer.js';
import type { RemoteBackendConfig } from './remote-config.js';
import { planRemote } from './remote-request.js';

/** Answers are a few KB; past this a server is broken or hostile, not answering. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** Health answers are tiny; read at most this much of one. */
const MAX_HEALTH_BYTES = 64 * 1024;
/** A 503's Retry-After is believed up to this many seconds. */
const MAX_RETRY_AFTER = 300;

/** Something an operator should hear about once, not per request: the log and the audit take it. */
export type RemoteEvent =
  | { event: 'health'; healthy: boolean; problem?: string }
  | { event: 'circuit'; state: CircuitState; failures: number; openMs?: number; problem?: string };

export interface RemoteTarget {
  /** vigil's name and version of the model (what clients address). */
  model: string;
  version: string;
  signature: ModelSignature;
  /** Pool-phase screening computed from the remote's answers (squeezed copies as extra rows). */
  screen?: PoolScreenSpec;
  /** Requests in flight before `overloaded` (pools.max_queue). */
  maxQueue: number;
}

/** The TLS files of a remote backend, read once at start (relative paths from the model's directory). */
export function readRemoteTls(config: RemoteBackendConfig, dir: string): { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string } | undefined {
  if (!config.tls) return undefined;
  const read = (file: string | undefined, what: string) => {
    if (!file) return undefined;
    try {
      return readFileSync(resolve(dir, file));
    } catch (err) {
      throw new Error(`cannot read the backend's TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { ca: read(config.tls.ca, 'CA'), cert: read(config.tls.cert, 'certificate'), key: read(config.tls.key, 'key'), servername: config.tls.server_name };
}

/**
 * A model version served by another Open Inference Protocol server (Triton, KServe, or `vigil
 * pool serve`) over HTTP or HTTPS with mutual TLS.
 *
 * Like a local pool it is health-checked (GET …/ready every interval; `unhealthy_after` misses
 * take it out of service), its failures open a circuit (refused at once with Retry-After instead
 * of every caller waiting out a timeout), and it is trusted no further than the gateway trusts a
 * client: every 200 answer is checked against the declared signature and rebuilt before it
 * reaches a detector or a client, and errors are passed on only as catalogue errors.
 */
export class RemoteOipBackend implements Backend {
  readonly kind = 'oip-http';
  private readonly client: HttpPool;
  private readonly base: string;
  private readonly breaker: CircuitBreaker;
  private healthy: boolean | undefined;
  private missedChecks = 0;
  private lastProblem: string | undefined;
  private inflight = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly config: RemoteBackendConfig,
    private readonly target: RemoteTarget,
    tls: ReturnType<typeof readRemoteTls>,
    private readonly onEvent: (e: RemoteEvent) => void = () => undefined,
  ) {
    const url = new URL(config.url);
    const prefix = url.pathname.replace(/\/+$/, '');
    this.base = `${prefix}/v2/models/${config.model ?? target.model}/versions/${config.version ?? target.version}`;
    this.client = new HttpPool(url.origin, {
      connections: config.connections,
      pipelining: 1,
      maxResponseSize: MAX_ANSWER_BYTES,
      headersTimeout: 0, // the deadline is the request's own signal
      bodyTimeout: 0,
      keepAliveTimeout: 10_000,
      connect: tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername, rejectUnauthorized: true } : undefined,
    });
    const circuit = config.circuit;
    this.breaker = new CircuitBreaker({ failures: circuit.failures, openMs: circuit.open_ms, maxOpenMs: circuit.max_open_ms }, Date.now, (state, detail) =>
      this.onEvent({ event: 'circuit', state, ...detail, problem: this.lastProblem }),
    );
  }

  get url(): string {
    return this.config.url;
  }

  get status(): BackendStatus {
    if (!this.healthy) return 'unavailable';
    if (this.breaker.state === 'open') return 'unavailable';
    return this.breaker.state === 'half-open' ? 'degraded' : 'ready';
  }

  retryAfterSeconds(): number {
    if (this.breaker.state === 'open') return this.breaker.retryAfterSeconds();
    return Math.max(1, Math.ceil(this.config.health.interval_ms / 1000));
  }

  load() {
    return { inflight: this.inflight, capacity: this.target.maxQueue };
  }

  describe() {
    return {
      backend: 'oip-http',
      url: this.config.url,
      healthy: this.healthy ?? null,
      circuit: this.breaker.state,
      consecutive_failures: this.breaker.consecutiveFailures,
      last_problem: this.lastProblem ?? null,
    };
  }

  /** Starts the health checks; resolves after the first one, so start-up logs say where it stands. */
  async start(): Promise<void> {
    await this.check();
    const tick = () => {
      this.timer = setTimeout(() => void this.check().finally(() => !this.closed && tick()), this.config.health.interval_ms);
      this.timer.unref();
    };
    tick();
  }

  /** An operator's "try again now" (`vigil pools restart`): the circuit closes and health is checked at once. */
  async reset(): Promise<void> {
    this.breaker.success();
    await this.check();
  }

  async infer(request: InferRequest, signal: AbortSignal): Promise<InferAnswer> {
    if (signal.aborted) throw signal.reason;
    if (!this.healthy) throw new BackendError('down', `the remote model server ${this.config.url} is failing its health checks${this.lastProblem ? ` (${this.lastProblem})` : ''}`, this.retryAfterSeconds());
    if (this.inflight >= this.target.maxQueue) throw new BackendError('overloaded', `the remote model server already has ${this.inflight} requests of this model in flight`, 1);
    if (!this.breaker.allow()) {
      throw new BackendError('down', `requests to the remote model server ${this.config.url} are paused after ${this.breaker.consecutiveFailures} failures in a row (last: ${this.lastProblem ?? 'unknown'})`, this.breaker.retryAfterSeconds());
    }
    this.inflight++;
    try {
      return await this.send(request, signal);
    } finally {
      this.inflight--;
    }
  }

  private async send(request: InferRequest, signal: AbortSignal): Promise<InferAnswer> {
    const parsed: InferenceRequest = request.parsed ?? (JSON.parse(request.body.toString('utf8')) as InferenceRequest);
    const plan = planRemote(parsed, request.body, this.target, this.target.screen);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': request.requestId };
    for (const name of ['traceparent', 'tracestate']) if (request.trace[name]) headers[name] = request.trace[name];
    const deadline = AbortSignal.timeout(this.config.timeout_ms);
    let status: number;
    let body: Buffer;
    let retryAfter: string | string[] | undefined;
    try {
      const r = await this.client.request({ path: `${this.base}/infer`, method: 'POST', headers, body: plan.body, signal: AbortSignal.any([signal, deadline]) });
      status = r.statusCode;
      retryAfter = r.headers['retry-after'];
      body = Buffer.from(await r.body.arrayBuffer());
    } catch (err) {
      if (signal.aborted) {
        this.breaker.release(); // the client or the gateway gave up: no verdict on the server
        throw signal.reason;
      }
      if (deadline.aborted) throw this.failed(new BackendError('timeout', `the remote model server did not answer within ${this.config.timeout_ms} ms`), 'timeout');
      if (err instanceof undiciErrors.ResponseExceededMaxSizeError) throw this.failed(new BackendError('failed', 'the remote model server sent an oversized answer'), 'oversized answer');
      const code = (err as { code?: string }).code ?? (err as Error).message;
      throw this.failed(new BackendError('down', `cannot reach the remote model server ${this.config.url}: ${code}`, this.retryAfterSeconds()), code);
    }
    if (status === 502 || status === 503 || status === 504) {
      const seconds = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
      const wait = Number.isInteger(seconds) && seconds > 0 ? Math.min(seconds, MAX_RETRY_AFTER) : this.retryAfterSeconds();
      throw this.failed(new BackendError('down', `the remote model server answered ${status}`, wait), `answered ${status}`);
    }
    if (status >= 500) {
      this.failed(undefined, `answered ${status}`);
      return { status, body, report: {} };
    }
    // A 4xx: the server is up and refused this request. Not a failure of the server; passed on
    // only as a catalogue error by the proxy stage.
    if (status !== 200) {
      this.breaker.success();
      return { status, body, report: {} };
    }
    const check = checkAnswer(body, this.target.signature, plan.wanted, plan.rows);
    if (!check.ok) throw this.failed(new BackendError('failed', `the remote model server's answer is not a valid inference response: ${check.problem}`), `invalid answer: ${check.problem}`);
    this.breaker.success();
    const done = plan.finish(check);
    return { status: 200, body: done.body, report: done.screen === undefined ? {} : { screen: done.screen } };
  }

  private failed<E>(err: E, problem: string): E {
    this.lastProblem = problem;
    this.breaker.failure();
    return err;
  }

  private async check(): Promise<void> {
    let problem: string | undefined;
    try {
      const r = await this.client.request({ path: `${this.base}/ready`, method: 'GET', signal: AbortSignal.timeout(this.config.health.timeout_ms) });
      let size = 0;
      for await (const chunk of r.body) if ((size += (chunk as Buffer).length) > MAX_HEALTH_BYTES) break;
      if (r.statusCode !== 200) problem = `ready check answered ${r.statusCode}`;
    } catch (err) {
      problem = `ready check failed: ${(err as { code?: string }).code ?? (err as Error).name}`;
    }
    if (this.closed) return;
    if (problem === undefined) {
      this.missedChecks = 0;
      if (this.healthy !== true) {
        this.healthy = true;
        this.onEvent({ event: 'health', healthy: true });
      }
      return;
    }
    this.lastProblem = problem;
    this.missedChecks++;
    const down = this.healthy === undefined || this.missedChecks >= this.config.health.unhealthy_after;
    if (down && this.healthy !== false) {
      this.healthy = false;
      this.onEvent({ event: 'health', healthy: false, problem });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client.destroy().catch(() => undefined);
  }
}
