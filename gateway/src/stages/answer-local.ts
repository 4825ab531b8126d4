import type { ServerResponse } from 'node:http';
import type { RequestContext } from '../context.js';
import type { ModelRegistry } from '../model-registry.js';

/**
 * answer stage: health and metadata are answered by the gateway itself from what the supervisor
 * knows, so they stay truthful while a pool is down. Inference passes through to the proxy.
 */
export function createAnswerLocalStage(registry: ModelRegistry, serverInfo: { name: string; version: string }) {
  const serverMetadata = JSON.stringify({ ...serverInfo, extensions: [] });
  return function answerLocally(ctx: RequestContext): void {
    const route = ctx.route!;
    switch (route.action) {
      case 'model.infer':
        return;
      case 'health.live':
        send(ctx, 200, '{"live":true}');
        return;
      case 'health.ready': {
        const ready = registry.allReady();
        send(ctx, ready ? 200 : 503, JSON.stringify({ ready }));
        return;
      }
      case 'server.metadata':
        send(ctx, 200, serverMetadata);
        return;
      case 'model.metadata':
        if (ctx.target?.status === 'serving') send(ctx, 200, JSON.stringify(registry.metadata(ctx.target)));
        return;
      case 'model.ready':
        if (ctx.target?.status === 'serving') {
          const ready = ctx.target.pool.pick() !== undefined;
          send(ctx, ready ? 200 : 503, JSON.stringify({ name: ctx.target.model, version: ctx.target.version, ready }));
        }
        return;
    }
  };
}

function send(ctx: RequestContext, status: number, body: string): void {
  const res: ServerResponse = ctx.res;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': ctx.id,
  });
  res.end(body);
  ctx.answered = true;
}
