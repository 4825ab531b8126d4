import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createContext, type RequestContext } from './context.js';
import { renderError } from './render-error.js';
import type { Responder } from './respond.js';

/** A pipeline stage: adds to the context, answers the request (setting `answered`), or throws VigilError. */
export type Stage = (ctx: RequestContext) => void | Promise<void>;

/**
 * Runs the stages in order until one answers or throws; every failure, from any stage, leaves
 * through renderError, and every answer through the responder (which audits it). The order is
 * fixed in one place (vigil.ts) where it can be read whole.
 */
export function createPipeline(stages: Stage[], responder: Responder, log: Logger) {
  return async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<RequestContext> {
    const ctx = createContext(req, res);
    try {
      for (const stage of stages) {
        // Most stages are synchronous: await only real promises, sparing a microtask hop each.
        const pending = stage(ctx);
        if (pending) await pending;
        if (ctx.answered) break;
      }
      if (!ctx.answered) throw new Error('no stage answered the request');
    } catch (err) {
      await renderError(ctx, err, responder, log);
    }
    return ctx;
  };
}
