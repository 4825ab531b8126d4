import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InferenceRequest } from '../../serving/src/oip/signature.js';
import type { Principal } from './auth/principal.js';
import type { ServedVersion } from './model-registry.js';
import type { Route } from './stages/route.js';

/** What the stages learn about one request, each adding its part. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  /** Wall-clock arrival, for the audit record. */
  readonly receivedAt: Date;
  readonly startedAt: bigint;
  /** The peer address; forwarded-for headers are not trusted. */
  readonly source: string;
  /** route: what the client asked for, parsed strictly from method and path */
  route?: Route;
  /** authenticate: who is asking */
  principal?: Principal;
  /** authorize: the policy's answer and the rule that gave it */
  decision?: { allowed: boolean; rule: string; reason: string };
  /** resolve: the model version it addresses */
  target?: ServedVersion;
  /** body: the exact bytes received and validated, and what they parse to */
  body?: { raw: Buffer; request: InferenceRequest | undefined; batchSize: number };
  /** Mode of each enforcing stage that ran (written into the audit record). */
  modes: Record<string, string>;
  /** What a stage in shadow mode would have refused. */
  shadowDenials: string[];
  /** Stage (or rule) that refused the request, for the audit record. */
  refusedBy?: string;
  /** Run once the response has been sent or the connection closed (releases, counters). */
  cleanup: (() => void)[];
  /** set by the stage that sent the response */
  answered: boolean;
}

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** context stage: gives the request an id (the client's `x-request-id` if well-formed) and a clock. */
export function createContext(req: IncomingMessage, res: ServerResponse): RequestContext {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
  return {
    req,
    res,
    id,
    receivedAt: new Date(),
    startedAt: process.hrtime.bigint(),
    source: req.socket.remoteAddress ?? 'unknown',
    modes: {},
    shadowDenials: [],
    cleanup: [],
    answered: false,
  };
}
