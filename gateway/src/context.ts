import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InferenceRequest } from '../../serving/src/oip/signature.js';
import type { ServedVersion } from './model-registry.js';
import type { Route } from './stages/route.js';

/** What the stages learn about one request, each adding its part. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  readonly startedAt: bigint;
  /** route: what the client asked for, parsed strictly from method and path */
  route?: Route;
  /** resolve: the model version it addresses */
  target?: ServedVersion;
  /** body: the exact bytes received and validated, and what they parse to */
  body?: { raw: Buffer; request: InferenceRequest; batchSize: number };
  /** set by the stage that sent the response */
  answered: boolean;
}

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** context stage: gives the request an id (the client's `x-request-id` if well-formed) and a clock. */
export function createContext(req: IncomingMessage, res: ServerResponse): RequestContext {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
  return { req, res, id, startedAt: process.hrtime.bigint(), answered: false };
}
