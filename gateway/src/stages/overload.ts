import type { RequestContext } from '../context.js';
import { overloaded, type GlobalBounds } from '../limits/global-bounds.js';
import { refuse, type Stage } from '../stage.js';

/** Probes answered from memory in microseconds: never refused, so overload never looks like death. */
const PROBES = new Set(['/v2/health/live', '/v2/health/ready']);

/**
 * overload stage (first): one more request in flight across every caller, or 503 OVERLOADED at
 * once when vigil already holds `server.max_inflight_requests`. It runs before authentication on
 * purpose: the bound protects the gateway itself, whoever is asking. Health probes are neither
 * counted nor refused: a liveness probe failing under load would get a busy gateway restarted.
 */
export function createOverloadStage(bounds: GlobalBounds): Stage {
  return {
    name: 'overload',
    run(ctx: RequestContext) {
      if (PROBES.has(ctx.req.url ?? '')) return;
      if (!bounds.enter()) return refuse(overloaded(`${bounds.inflight} requests are in flight (server.max_inflight_requests)`), 'bound:inflight');
      ctx.onClose(() => bounds.leave());
    },
  };
}
