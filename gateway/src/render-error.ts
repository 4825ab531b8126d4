import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { VigilError } from './errors.js';

/** The single place where a failed request becomes an OIP error response. */
export function renderError(res: ServerResponse, err: unknown, requestId: string, log: Logger): VigilError {
  const error = err instanceof VigilError ? err : new VigilError('INTERNAL_ERROR', `internal error (request ${requestId})`);
  if (!(err instanceof VigilError)) log.error({ err, requestId }, 'unhandled error in the request pipeline');
  if (res.headersSent || res.destroyed) {
    // Part of a response already left: the only honest signal left is to cut the connection.
    res.destroy();
    return error;
  }
  const body = JSON.stringify({ error: error.message, code: error.code });
  const headers: Record<string, string | number> = {
    ...error.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  };
  res.writeHead(error.status, headers);
  res.end(body);
  return error;
}
