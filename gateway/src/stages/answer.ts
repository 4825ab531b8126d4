import type { RoutedContext } from '../context.js';
import { VigilError } from '../errors.js';
import { canServe, type ModelRegistry } from '../model-registry.js';
import { modelConfigView } from '../model-config-view.js';
import type { PolicySource } from '../policy-port.js';
import type { Responder } from '../respond.js';
import type { Stage } from '../stage.js';
import type { ModelStats } from '../telemetry/model-stats.js';

/** The OIP and Triton extensions the gateway implements, as server metadata lists them. */
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'model_configuration', 'statistics', 'model_repository'];

export interface AnswerSources {
  registry: ModelRegistry;
  serverInfo: { name: string; version: string };
  responder: Responder;
  ready: () => boolean;
  stats: ModelStats;
  /** For the repository index: which models the caller may see. */
  policy: PolicySource;
}

/**
 * answer stage (health, metadata, config, statistics, the repository index): answered by the
 * gateway itself from what the supervisor knows, so they stay truthful while a pool is down.
 */
export function createAnswerStage({ registry, serverInfo, responder, ready, stats, policy }: AnswerSources): Stage<RoutedContext> {
  const serverMetadata = JSON.stringify({ ...serverInfo, extensions: EXTENSIONS });
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
        case 'repository.index':
          return readIndexRequest(ctx).then((onlyReady) => send(ctx, 200, JSON.stringify(repositoryIndex(ctx, registry, policy, onlyReady))));
        case 'model.metadata':
          if (ctx.target) return send(ctx, 200, JSON.stringify(registry.metadata(ctx.target)));
          return;
        case 'model.config':
          if (ctx.target) return send(ctx, 200, JSON.stringify(modelConfigView(ctx.target, registry.servingVersions(ctx.target.model))));
          return;
        case 'model.stats':
          // A version named: that one; none: every version being served that the caller may see, as Triton answers.
          if (ctx.target) return send(ctx, 200, JSON.stringify(stats.of(ctx.target.model, ctx.route.version !== undefined ? [ctx.target.version] : visibleVersions(ctx, registry, policy, ctx.target.model))));
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

/**
 * Triton's repository index: every model version, its state and why it is not ready, limited to
 * the models this caller may see the metadata of, so the index reveals no more than 403s would.
 */
function repositoryIndex(ctx: RoutedContext, registry: ModelRegistry, policy: PolicySource, onlyReady: boolean): object[] {
  const principal = ctx.principal;
  if (!principal) return [];
  const rules = policy.current();
  const now = Date.now();
  return registry
    .all()
    .filter((v) => rules.authorize({ principal, action: 'metadata', model: v.model, version: v.version, source: ctx.source, timeMs: now }).allowed)
    .filter((v) => !onlyReady || (v.status === 'serving' && canServe(v.backend)))
    .map((v) => {
      // As Triton answers: `reason` only when there is one.
      if (v.status === 'refused') return { name: v.model, version: v.version, state: 'UNAVAILABLE', reason: 'refused at load (see the server log)' };
      return canServe(v.backend) ? { name: v.model, version: v.version, state: 'READY' } : { name: v.model, version: v.version, state: 'UNAVAILABLE', reason: `its backend is ${v.backend.status}` };
    });
}

/** The versions of a model being served that this caller may see the metadata of. */
function visibleVersions(ctx: RoutedContext, registry: ModelRegistry, policy: PolicySource, model: string): string[] {
  const principal = ctx.principal;
  if (!principal) return [];
  const rules = policy.current();
  const now = Date.now();
  return registry.servingVersions(model).filter((version) => rules.authorize({ principal, action: 'metadata', model, version, source: ctx.source, timeMs: now }).allowed);
}

/** The most an index request's body holds: `{"ready": true}` and whitespace. */
const MAX_INDEX_BODY = 1024;

/**
 * The index request's body: none, `{}` or `{"ready": true|false}` (only ready models), as
 * Triton's clients send it. Anything else is refused by name, never ignored.
 */
async function readIndexRequest(ctx: RoutedContext): Promise<boolean> {
  const declared = Number(ctx.req.headers['content-length'] ?? 0);
  if (declared > MAX_INDEX_BODY) throw new VigilError('BODY_TOO_LARGE', `a repository index request holds at most ${MAX_INDEX_BODY} bytes`, { connection: 'close' });
  let text = '';
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8');
    if (text.length > MAX_INDEX_BODY) throw new VigilError('BODY_TOO_LARGE', `a repository index request holds at most ${MAX_INDEX_BODY} bytes`, { connection: 'close' });
  }
  if (text.trim() === '') return false;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new VigilError('INVALID_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
  const object = typeof body === 'object' && body !== null && !Array.isArray(body);
  const ready = object ? (body as Record<string, unknown>).ready : undefined;
  const keys = object ? Object.keys(body as object) : ['?'];
  if (keys.some((k) => k !== 'ready') || (ready !== undefined && typeof ready !== 'boolean')) {
    throw new VigilError('INVALID_INFERENCE_REQUEST', 'a repository index request is {} or {"ready": true|false}');
  }
  return ready === true;
}
