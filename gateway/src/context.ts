import type { ClaimedCredential } from './auth/claimed-identity.js';
import type { AnswerForm } from '../../oip/src/answer-form.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from '@opentelemetry/api';
import type { InferenceRequest } from '../../oip/src/signature.js';
import type { Principal } from './auth/principal.js';
import type { ScreenBatch } from '../../detectors/src/finding.js';
import type { Charge } from './limits/limit-plan.js';
import type { RecordedFinding } from './screening/recorded-finding.js';
import type { QuotaState } from './limits/rate-limits.js';
import type { ServingVersion } from './model-registry.js';
import type { ModelRoute, Route } from './routes.js';

/** What the stages learn about one request, each adding its part. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  /** The client's own `x-request-id`, kept for correlation; never used as the audit key. */
  readonly clientRequestId: string | null;
  /** Wall-clock arrival, for the audit record. */
  readonly receivedAt: Date;
  readonly startedAt: bigint;
  /** The peer address; forwarded-for headers are not trusted. */
  readonly source: string;
  /** route: what the client asked for, parsed strictly from method and path */
  route?: Route;
  /** authenticate: who is asking */
  principal?: Principal;
  /** authenticate, on a refused credential: what it claimed, unverified (for the audit record). */
  claimed?: ClaimedCredential;
  /** select-version: the version a model request addresses (undefined: the model serves none); authorize and resolve both use it */
  version?: string;
  /** select-version: the version a copy of this inference goes to, to be compared (traffic.yaml `shadow`) */
  shadowVersion?: string;
  /** shadow: the version a copy of this inference was sent to */
  shadowSent?: string;
  /** authorize: the policy's answer and the rule that gave it */
  decision?: { allowed: boolean; rule: string; reason: string };
  /** resolve: the model version being served that the request addresses */
  target?: ServingVersion;
  /** body: the exact bytes received and validated, and what they parse to */
  body?: {
    raw: Buffer;
    /** Where the JSON header ends and binary tensor data begins (Inference-Header-Content-Length); undefined: all JSON. */
    headerLength: number | undefined;
    request: InferenceRequest | undefined;
    batchSize: number;
    /** Binary outputs and classification the client asked for; undefined: plain JSON (kept after `request` is dropped). */
    form: AnswerForm | undefined;
  };
  /** limit stages: what admission charged (refunded if items are refused) and every quota's state, for the headers */
  limits?: { admitted: Charge[]; states: QuotaState[] };
  /** screen: the rows the numeric detectors read, the rows a request-phase detector found anomalous, the detectors that ran, and every finding with what it did. */
  screen?: { batch: ScreenBatch | null; flaggedRows?: boolean[]; findings: RecordedFinding[]; ran: string[] };
  /** The request's trace, when traces are on: its id goes into the audit record, its context to the pool. */
  traceId?: string;
  traceContext?: Context;
  /** cache-lookup: whether the version's response cache had the answer (only for versions with one) */
  cache?: { outcome: 'hit' | 'miss'; key: string; id: string | undefined };
  /** proxy (or cache-lookup, on a hit): the pool's answer, for screen-answer and send */
  answer?: { status: number; body: Buffer; headerLength?: number; screenReport: string | undefined };
  /** shape-answer: what the caller's roles let it see of the answer, when less than all of it (top1, rounded:N) */
  answerDetail?: string;
  /** proxy: when the request went to the pool, when the pool answered, and what the pool reported of its time */
  proxiedAt?: bigint;
  poolAnsweredAt?: bigint;
  poolComputeSeconds?: number;
  poolQueueSeconds?: number;
  /** Items in the pool's run that served this request (the dynamic batcher merges requests). */
  poolBatchItems?: number;
  /** Mode of each enforcing stage that ran (written into the audit record). */
  modes: Record<string, string>;
  /** What a stage in shadow mode would have refused. */
  shadowDenials: string[];
  /** The rule that refused the request, for the audit record (set by the runner). */
  refusedBy?: string;
  /** The stage that refused it, for the rejection metric (set by the runner). */
  refusedAt?: string;
  /** True once the response has been sent or the client has gone. */
  closed: boolean;
  /** Runs `fn` once the request is over; at once if it already is (a slot taken late must not leak). */
  onClose(fn: () => void): void;
  /** set by the stage that sent the response */
  answered: boolean;
}

/** After route. */
export type RoutedContext = RequestContext & { route: Route };
/** A request on a model, after route: select-version, authorize and resolve run on these. */
export type ModelContext = RequestContext & { route: ModelRoute };
/** After resolve: the version being served. */
export type TargetContext = ModelContext & { target: ServingVersion };
/** After authenticate: who is asking. */
export type Authenticated = { principal: Principal };

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * context stage: gives the request its own id (a client's `x-request-id` is kept beside it, never
 * trusted as the key: clients could make audit records collide), a clock, and close tracking.
 */
export function createContext(req: IncomingMessage, res: ServerResponse, source: string = req.socket.remoteAddress ?? 'unknown'): RequestContext {
  const given = req.headers['x-request-id'];
  const pending: (() => void)[] = [];
  const ctx: RequestContext = {
    req,
    res,
    id: randomUUID(),
    clientRequestId: typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : null,
    receivedAt: new Date(),
    startedAt: process.hrtime.bigint(),
    source,
    modes: {},
    shadowDenials: [],
    closed: false,
    onClose(fn) {
      if (ctx.closed) fn();
      else pending.push(fn);
    },
    answered: false,
  };
  res.once('close', () => {
    ctx.closed = true;
    for (const fn of pending.splice(0)) fn();
  });
  return ctx;
}
