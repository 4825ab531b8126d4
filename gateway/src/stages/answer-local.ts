import type { RequestContext } from '../context.js';
import type { ModelRegistry } from '../model-registry.js';
import type { Responder } from '../respond.js';

/**
 * answer stage: health and metadata are answered by the gateway itself from what the supervisor
 * knows, so they stay truthful while a pool is down. Inference passes through to the proxy.
 */
export function createAnswerLocalStage(registry: ModelRegistry, serverInfo: { name: string; version: string }, responder: Responder, ready: () => boolean) {
  const serverMetadata = JSON.stringify({ ...serverInfo, extensions: [] });
  const send = (ctx: RequestContext, status: number, body: string) => responder.send(ctx, status, { 'content-type': 'application/json' }, body);
  return function answerLocally(ctx: RequestContext): Promise<void> | void {
    const route = ctx.route!;
    switch (route.action) {
      case 'model.infer':
        return;
      case 'health.live':
        // Alive means the process answers: not whether the audit disk is writable (that is readiness).
        return responder.sendBeforeRecord(ctx, 200, '{"live":true}');
      case 'health.ready': {
        const isReady = ready();
        return send(ctx, isReady ? 200 : 503, JSON.stringify({ ready: isReady }));
      }
      case 'server.metadata':
        return send(ctx, 200, serverMetadata);
      case 'model.metadata':
        if (ctx.target?.status === 'serving') return send(ctx, 200, JSON.stringify(registry.metadata(ctx.target)));
        return;
      case 'model.ready':
        if (ctx.target?.status === 'serving') {
          const ready = ctx.target.pool.pick() !== undefined;
          return send(ctx, ready ? 200 : 503, JSON.stringify({ name: ctx.target.model, version: ctx.target.version, ready }));
        }
        return;
    }
  };
}

