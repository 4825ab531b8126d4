import express from 'express';
import type { Supervisor } from '../../serving/src/supervisor/supervisor.js';
import type { ModelRegistry } from './model-registry.js';

/**
 * The admin port: for operators and probes, never for clients. Express is fine here; it is off
 * the inference hot path, where plain node:http saves ~100 µs a request (DESIGN.md).
 */
export function createAdminApp(registry: ModelRegistry, supervisor: Supervisor, isDraining: () => boolean) {
  const app = express();
  app.disable('x-powered-by');
  app.get('/livez', (_req, res) => {
    res.json({ live: true });
  });
  app.get('/readyz', (_req, res) => {
    const ready = !isDraining() && registry.allReady();
    res.status(ready ? 200 : 503).json({ ready });
  });
  app.get('/status', (_req, res) => {
    res.json({
      draining: isDraining(),
      models: registry.all().map((v) =>
        v.status === 'refused'
          ? { model: v.model, version: v.version, status: 'refused', reason: v.reason }
          : {
              model: v.model,
              version: v.version,
              status: v.pool.status,
              workers: v.pool.workers.map((w) => ({
                index: w.index,
                state: w.state,
                pid: w.pid ?? null,
                inflight: w.inflight,
                restarts: w.restarts,
                reason: w.reason ?? null,
              })),
            },
      ),
      pools: supervisor.allPools().length,
    });
  });
  app.use((_req, res) => {
    res.status(404).json({ error: 'no such admin endpoint', code: 'ROUTE_NOT_FOUND' });
  });
  return app;
}
