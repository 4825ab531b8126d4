import type { Logger } from 'pino';
import type { RequestContext } from './context.js';
import { VigilError } from './errors.js';
import { CLIENT_CLOSED_STATUS, type Responder } from './respond.js';

/** The single place where a failed request becomes an OIP error response (audited like any other). */
export async function renderError(ctx: RequestContext, err: unknown, responder: Responder, log: Logger): Promise<VigilError> {
  const error = err instanceof VigilError ? err : new VigilError('INTERNAL_ERROR', `internal error (request ${ctx.id})`);
  if (!(err instanceof VigilError)) log.error({ err, requestId: ctx.id, traceId: ctx.traceId }, 'unhandled error in the request pipeline');
  if (ctx.res.headersSent || ctx.res.destroyed) {
    // Nobody to answer (the client left), or part of an answer already went: audit it anyway,
    // then cut the connection, the only honest signal left.
    await responder.record(ctx, ctx.res.headersSent ? error.status : CLIENT_CLOSED_STATUS, error.code);
    ctx.res.destroy();
    return error;
  }
  await responder.send(ctx, error.status, { ...error.headers, 'content-type': 'application/json' }, error.body, error.code);
  return error;
}
