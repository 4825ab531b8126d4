import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Pool as HttpPool, errors as undiciErrors } from 'undici';
import type { PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import type { InferenceRequest, ModelSignature } from '../../../oip/src/signature.js';
import { BackendError, type Backend, type BackendStatus, type InferAnswer, type InferRequest } from '../backend.js';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { answerByteLimit, checkAnswer, UNBOUNDED_ANSWER_BYTES } from './oip-answer.js';
import type { RemoteBackendConfig } from './remote-config.js';
import { planRemote } from './remote-request.js';

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
  /** The gateway's own deadline (server.request_timeout_ms): the server's is kept under it. */
  requestTimeoutMs: number;
}

/** A remote error answer's code, passed on only if it is a simple token; its text never is. */
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Margin between the server's deadline and the gateway's, so the server's fires first. */
const DEADLINE_MARGIN_MS = 50;

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
 * client: an answer larger than the signature allows is cut off as it streams in, every 200
 * answer is checked against the declared signature and rebuilt before it reaches a detector or a
 * client, and errors are passed on only as catalogue codes with fixed text. Clients never see
 * the server's address or its own words; operators find them in /status, the log and the audit.
 */
export class RemoteOipBackend implements Backend {
  readonly kind = 'oip-http';
  private readonly client: HttpPool;
  /** Health checks have their own connection, so a busy server is not taken for a dead one. */
  private readonly healthClient: HttpPool;
  private readonly base: string;
  private readonly breaker: CircuitBreaker;
  private readonly timeoutMs: number;
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
    this.timeoutMs = Math.max(10, Math.min(config.timeout_ms, target.requestTimeoutMs - DEADLINE_MARGIN_MS));
    const options = {
      pipelining: 1,
      maxResponseSize: UNBOUNDED_ANSWER_BYTES,
      headersTimeout: 0, // the deadline is the request's own signal
      bodyTimeout: 0,
      keepAliveTimeout: 10_000,
      connect: tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername, rejectUnauthorized: true } : undefined,
    };
    this.client = new HttpPool(url.origin, { ...options, connections: config.connections });
    this.healthClient = new HttpPool(url.origin, { ...options, connections: 1 });
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
    if (this.breaker.state === 'closed') return 'ready';
    // Open with its time up, or half-open: the next request is the trial, so it takes requests.
    return this.breaker.trialDue || this.breaker.state === 'half-open' ? 'degraded' : 'unavailable';
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
    if (!this.healthy) throw new BackendError('down', "the model's remote server is failing its health checks", this.retryAfterSeconds());
    if (this.inflight >= this.target.maxQueue) throw new BackendError('overloaded', `the model's remote server already has ${this.inflight} requests in flight`, 1);
    const admitted = this.breaker.allow();
    if (!admitted) throw new BackendError('down', `requests to the model's remote server are paused after ${this.breaker.consecutiveFailures} failures in a row`, this.breaker.retryAfterSeconds());
    this.inflight++;
    const verdict = { given: false };
    try {
      return await this.send(request, signal, verdict);
    } finally {
      this.inflight--;
      // A trial that ended with no verdict (its client left, or it failed before reaching the
      // server) must not keep the circuit half-open for good.
      if (admitted === 'trial' && !verdict.given) this.breaker.releaseTrial();
    }
  }

  private async send(request: InferRequest, signal: AbortSignal, verdict: { given: boolean }): Promise<InferAnswer> {
    const parsed: InferenceRequest = request.parsed ?? (JSON.parse(request.body.toString('utf8')) as InferenceRequest);
    const plan = planRemote(parsed, request.headerLength === undefined ? request.body : undefined, this.target, this.target.screen);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': request.requestId };
    for (const name of ['traceparent', 'tracestate']) if (request.trace[name]) headers[name] = request.trace[name];
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const limit = answerByteLimit(this.target.signature, plan.rows);
    const failed = (problem: string) => {
      verdict.given = true;
      this.lastProblem = problem;
      this.breaker.failure();
    };
    const fail = (err: BackendError, problem: string) => {
      failed(problem);
      return err;
    };
    let status: number;
    let body: Buffer;
    let retryAfter: string | string[] | undefined;
    let code: string | undefined;
    try {
      const r = await this.client.request({ path: `${this.base}/infer`, method: 'POST', headers, body: plan.body, signal: AbortSignal.any([signal, deadline]) });
      status = r.statusCode;
      retryAfter = r.headers['retry-after'];
      const declared = Number(r.headers['content-length']);
      if (declared > limit) {
        discard(r.body);
        throw fail(new BackendError('failed', "the model's remote server sent an answer larger than the model's outputs can be"), `answer of ${declared} bytes, over the ${limit} the signature allows`);
      }
      body = await readAtMost(r.body, limit);
    } catch (err) {
      if (err instanceof BackendError) throw err;
      if (signal.aborted) throw signal.reason; // the client or the gateway gave up: no verdict on the server
      if (deadline.aborted) throw fail(new BackendError('timeout', `the model's remote server did not answer within ${this.timeoutMs} ms`), 'timeout');
      if (err instanceof AnswerTooLarge) throw fail(new BackendError('failed', "the model's remote server sent an answer larger than the model's outputs can be"), `answer over the ${limit} bytes the signature allows`);
      throw fail(new BackendError('down', "the model's remote server cannot be reached", this.retryAfterSeconds()), `cannot connect: ${problemOf(err)}`);
    }
    if (status >= 400) {
      try {
        const c = (JSON.parse(body.toString('utf8')) as { code?: unknown }).code;
        if (typeof c === 'string' && CODE.test(c)) code = c;
      } catch {
        // not JSON: no code
      }
    }
    // Load shedding is the server asking for less, not failing: the client is told to back off,
    // and the circuit is not opened by it (that would shed everything).
    if (status === 429 || (status === 503 && code === 'POOL_OVERLOADED')) {
      verdict.given = true;
      this.breaker.success();
      throw new BackendError('overloaded', "the model's remote server is at capacity", retryAfterOf(retryAfter, this.retryAfterSeconds()));
    }
    if (status === 502 || status === 503 || status === 504) {
      throw fail(new BackendError('down', "the model's remote server is unavailable", retryAfterOf(retryAfter, this.retryAfterSeconds())), `answered ${status}`);
    }
    if (status >= 500) {
      failed(`answered ${status}`);
      return { status, body: errorBody(code), report: {} };
    }
    // A 4xx: the server is up and refused this request. Not a failure of the server; its code (not
    // its text) is passed on, and only as a catalogue error by the proxy stage.
    if (status !== 200) {
      verdict.given = true;
      this.breaker.success();
      return { status, body: errorBody(code), report: {} };
    }
    const check = checkAnswer(body, this.target.signature, plan.wanted, plan.rows);
    if (!check.ok) throw fail(new BackendError('failed', "the model's remote server sent an answer that is not a valid inference response for this model"), `invalid answer: ${check.problem}`);
    verdict.given = true;
    this.breaker.success();
    const done = plan.finish(check);
    return { status: 200, body: done.body, report: done.screen === undefined ? {} : { screen: done.screen } };
  }

  private async check(): Promise<void> {
    let problem: string | undefined;
    try {
      const r = await this.healthClient.request({ path: `${this.base}/ready`, method: 'GET', signal: AbortSignal.timeout(this.config.health.timeout_ms) });
      await readAtMost(r.body, MAX_HEALTH_BYTES).catch(() => undefined);
      if (r.statusCode !== 200) problem = `ready check answered ${r.statusCode}`;
    } catch (err) {
      problem = `ready check failed: ${problemOf(err)}`;
    }
    if (this.closed) return;
    if (problem === undefined) {
      this.missedChecks = 0;
      this.breaker.healthPassed();
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
    await Promise.all([this.client.destroy().catch(() => undefined), this.healthClient.destroy().catch(() => undefined)]);
  }
}

class AnswerTooLarge extends Error {}

/** Drops a body unread: undici then aborts it with an 'error' event, which is expected here. */
function discard(body: { on(event: 'error', fn: () => void): unknown; destroy(): void }): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Reads a body, giving up (and destroying it) past `limit` bytes. */
async function readAtMost(body: AsyncIterable<unknown> & { on(event: 'error', fn: () => void): unknown; destroy(): void }, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      discard(body);
      throw new AnswerTooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A server's Retry-After in seconds, believed up to MAX_RETRY_AFTER; else the fallback. */
function retryAfterOf(header: string | string[] | undefined, fallback: number): number {
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return Number.isInteger(seconds) && seconds > 0 ? Math.min(seconds, MAX_RETRY_AFTER) : fallback;
}

/** An errno-style code or an error's name: never its message (it may quote the server). */
function problemOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return (err as Error).name ?? 'error';
}

/** The body the proxy stage reads for a remote error: its code if it had one, fixed text. */
function errorBody(code: string | undefined): Buffer {
  return Buffer.from(JSON.stringify({ error: "the model's remote server refused the request", ...(code ? { code } : {}) }));
}
