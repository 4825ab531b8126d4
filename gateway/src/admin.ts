import express, { type NextFunction, type Request, type Response } from 'express';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { RemoteOipBackend } from '../../serving/src/remote/remote-backend.js';
import type { Isolation } from './isolation.js';
import type { Supervisor } from '../../serving/src/supervisor/supervisor.js';
import type { AuditLog } from './audit/audit-log.js';
import { queryAudit } from './audit/query.js';
import { auditQueryOf, InvalidQueryError, nextCursor } from './audit/query-params.js';
import type { Principal } from './auth/principal.js';
import { createContext } from './context.js';
import { VigilError } from './errors.js';
import { NAME_PATTERN } from '../../oip/src/names.js';
import type { ModelRegistry } from './model-registry.js';
import { addRepositoryRoutes } from './admin-repository.js';
import type { ModelLifecycle } from './lifecycle/model-lifecycle.js';
import type { ResponseCaches } from './answers/response-cache.js';
import type { PolicySource } from './policy-port.js';
import type { Stage } from './stage.js';
import type { VigilMetrics } from './telemetry/metrics.js';

export interface AdminDeps {
  registry: ModelRegistry;
  supervisor: Supervisor;
  /** How the pools are isolated (shown on /status). */
  isolation: Isolation;
  isDraining: () => boolean;
  /** The gateway can serve: not draining, its audit log writable, some model answering. */
  isReady: () => boolean;
  /** The inference pipeline's authenticate stage: one credential check, one throttle, for both ports. */
  authenticate: Stage;
  policy: PolicySource;
  audit: AuditLog;
  auditDir: string;
  /** Public keys of the development issuer, served so other services can verify its tokens. */
  devJwks?: { keys: JWK[] };
  metrics: VigilMetrics;
  /** Live loads, unloads, promotions and rollbacks (the repository extension). */
  lifecycle: ModelLifecycle;
  /** A pool restarted by an operator forgets its version's kept answers. */
  responseCaches: ResponseCaches;
  log: Logger;
}

/**
 * The admin port: for operators and probes, never for clients. Express is fine here; it is off
 * the inference hot path, where plain node:http saves ~100 µs a request (DESIGN.md).
 * Probes (/livez, /readyz) and the Prometheus scrape (/metrics) are open; everything else is
 * authorized by the policy like any request.
 */
export function createAdminApp(deps: AdminDeps) {
  const { registry, supervisor, isDraining } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  const refused = (event: string, principal: string, detail: Record<string, unknown>) =>
    deps.audit.append({ type: 'admin', time: new Date().toISOString(), event, principal, outcome: 'failed', detail }).catch((err: unknown) => deps.log.error({ err }, 'AUDIT WRITE FAILED'));

  /**
   * Authenticates and authorizes an admin request; refusals are audited and count against the
   * source like any failed authentication. Always enforced: shadow mode is for rolling out a
   * policy on client traffic, never a reason to open the admin port.
   */
  async function allow(req: Request, res: Response, action: string, model?: string): Promise<Principal> {
    const source = req.socket.remoteAddress ?? 'unknown';
    const ctx = createContext(req, res, source);
    const verdict = await deps.authenticate.run(ctx);
    const refusal = Array.isArray(verdict) ? verdict[0] : verdict;
    if (refusal) {
      await refused(action, 'unauthenticated', { code: refusal.error.code, source, ...(model ? { model } : {}) });
      throw refusal.error;
    }
    const principal = ctx.principal;
    if (!principal) throw new Error('authenticate set no principal');
    const decision = deps.policy.current().authorize({ principal, action, model, source, timeMs: Date.now() });
    if (!decision.allowed) {
      await refused(action, principal.id, { rule: decision.rule, source, ...(model ? { model } : {}) });
      if (principal.method === 'anonymous') throw new VigilError('AUTHENTICATION_REQUIRED', `${action} needs credentials`, { 'www-authenticate': 'Bearer' });
      throw new VigilError('FORBIDDEN', `${principal.id} may not ${action}${model ? ` on ${model}` : ''}`);
    }
    return principal;
  }

  app.get('/livez', (_req, res) => {
    res.json({ live: true });
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.isReady();
    res.status(ready ? 200 : 503).json({ ready });
  });
  // Scrapers, like probes, are not asked for credentials: the admin port binds to loopback (or an
  // internal address), and the metrics hold no principal, key or request id.
  app.get('/metrics', (req, res) => {
    deps.metrics.handle(req, res);
  });
  if (deps.devJwks) {
    const jwks = deps.devJwks;
    app.get('/.well-known/jwks.json', (_req, res) => {
      res.json(jwks);
    });
  }
  app.get('/status', async (req, res, next) => {
    try {
      const principal = await allow(req, res, 'admin:status');
      // Who looked at the fleet's state is a security fact too (it names workers, pids, remotes).
      await deps.audit.append({ type: 'admin', time: new Date().toISOString(), event: 'status.read', principal: principal.id, outcome: 'ok', detail: {} });
      res.json({ ...statusOf(registry, supervisor, isDraining(), deps.audit.healthy), isolation: deps.isolation });
    } catch (err) {
      next(err);
    }
  });
  // Restart a model version's pool now (out of quarantine too): an operator's way back.
  app.post('/pools/:model/:version/restart', async (req, res, next) => {
    try {
      const principal = await allow(req, res, 'admin:pools');
      const { model, version } = req.params as { model: string; version: string };
      if (!NAME_PATTERN.test(model) || !NAME_PATTERN.test(version)) throw new VigilError('INVALID_PATH', 'model names and versions start with a letter or digit and hold at most 128 characters');
      const key = `${model}/${version}`;
      const remote = registry.all().find((v) => v.model === model && v.version === version && v.status === 'serving' && v.backend instanceof RemoteOipBackend);
      if (remote?.status === 'serving' && remote.backend instanceof RemoteOipBackend) {
        // A remote server is not vigil's to restart: its circuit closes and it is checked now.
        const before = remote.backend.describe();
        deps.responseCaches.clear(remote);
        await remote.backend.reset();
        await deps.audit.append({ type: 'admin', time: new Date().toISOString(), event: 'pools.restart', principal: principal.id, outcome: 'ok', detail: { model, version, before } });
        res.status(202).json({ model, version, backend: 'oip-http', status: remote.backend.status });
        return;
      }
      const pool = supervisor.pool(key);
      const before = pool?.workers.map((w) => ({ index: w.index, state: w.state, reason: w.reason ?? null })) ?? [];
      const served = registry.versionsOf(model).find((v) => v.version === version);
      if (served?.status === 'serving') deps.responseCaches.clear(served);
      const restarted = supervisor.restartPool(key);
      await deps.audit.append({ type: 'admin', time: new Date().toISOString(), event: 'pools.restart', principal: principal.id, outcome: restarted ? 'ok' : 'failed', detail: { model, version, before } });
      if (!restarted) throw new VigilError('MODEL_VERSION_NOT_FOUND', `no pool serves ${key}`);
      res.status(202).json({ model, version, restarting: before.length });
    } catch (err) {
      next(err);
    }
  });
  app.get('/audit', async (req, res, next) => {
    try {
      const principal = await allow(req, res, 'audit:read');
      let query: ReturnType<typeof auditQueryOf>;
      try {
        query = auditQueryOf(req.query as Record<string, unknown>);
      } catch (err) {
        // Audited like any refusal; the parameter's name, never its value (it could be a pasted token).
        if (err instanceof InvalidQueryError) await refused('audit.query', principal.id, { code: err.code, parameter: err.parameter });
        throw err;
      }
      const { filter, limit } = query;
      const records = [];
      for await (const r of queryAudit(deps.auditDir, filter, limit)) records.push(r);
      // A full page may have more after it: `next` continues exactly where it stopped.
      const next = records.length === limit ? nextCursor(records, filter.after) : null;
      // The parsed filter, never the raw query: it could carry anything, a pasted token included.
      const asked = Object.fromEntries(Object.entries({ ...filter, limit }).filter(([k, v]) => v !== undefined && k !== 'after').map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]));
      await deps.audit.append({ type: 'admin', time: new Date().toISOString(), event: 'audit.query', principal: principal.id, outcome: 'ok', detail: { filter: asked, returned: records.length } });
      res.json({ records, next });
    } catch (err) {
      next(err);
    }
  });
  addRepositoryRoutes(app, registry, deps.lifecycle, allow);
  const sendError = (res: Response, err: VigilError) => res.status(err.status).set(err.headers).type('application/json').send(err.body);
  app.use((_req, res) => {
    sendError(res, new VigilError('ROUTE_NOT_FOUND', 'no such admin endpoint'));
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof VigilError) {
      sendError(res, err);
      return;
    }
    // express.json()'s own refusals: a body that is not JSON, or too large.
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') return void sendError(res, new VigilError('BODY_TOO_LARGE', 'an admin request body holds at most 4 KiB'));
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') return void sendError(res, new VigilError('INVALID_JSON', 'the body is not valid UTF-8 JSON'));
    deps.log.error({ err }, 'admin endpoint failed');
    sendError(res, new VigilError('INTERNAL_ERROR', 'internal error'));
  });
  return app;
}

function statusOf(registry: ModelRegistry, supervisor: Supervisor, draining: boolean, auditHealthy: boolean) {
  return {
    draining,
    audit: auditHealthy ? 'healthy' : 'FAILING',
    models: registry.all().map((v) =>
      v.status === 'refused'
        ? { model: v.model, version: v.version, status: 'refused', reason: v.reason }
        : {
            model: v.model,
            version: v.version,
            status: v.backend.status,
            ...v.backend.describe(),
          },
    ),
    pools: supervisor.allPools().length,
  };
}
