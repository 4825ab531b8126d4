import type { RoutedContext } from '../context.js';
import { canServe, type ModelRegistry } from '../model-registry.js';
import type { Responder } from '../respond.js';
import type { Stage } from '../stage.js';

/**
 * answer stage (health and metadata): answered by the gateway itself from what the supervisor
 * knows, so they stay truthful while a pool is down.
 */
export function createAnswerStage(registry: ModelRegistry, serverInfo: { name: string; version: string }, responder: Responder, ready: () => boolean): Stage<RoutedContext> {
  const serverMetadata = JSON.stringify({ ...serverInfo, extensions: [] });
  const send = (ctx: RoutedContext, status: number, body: string) => responder.send(ctx, status, { 'content-type': 'application/json' }, body);
  return {
    name: 'answer',
    run(ctx) {
      switch (ctx.route.action) {
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
          if (ctx.target) return send(ctx, 200, JSON.stringify(registry.metadata(ctx.target)));
          return;
        case 'model.ready':
          if (ctx.target) {
            const ready = canServe(ctx.target.backend);
            return send(ctx, ready ? 200 : 503, JSON.stringify({ name: ctx.target.model, version: ctx.target.version, ready }));
          }
          return;
      }
    },
  };
}
