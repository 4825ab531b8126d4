import { z } from 'zod';
import { NAME_PATTERN } from '../../../oip/src/names.js';

/**
 * `backend:` in model.yaml. `local` (the default): vigil runs the model in its own pool processes.
 * `oip-http`: another Open Inference Protocol server runs it (Triton, KServe, or `vigil pool
 * serve` on another host); vigil screens, forwards and checks its answers.
 */
const remoteBackendSchema = z
  .object({
    kind: z.literal('oip-http'),
    /** Base URL of the server: http://host:port or https://host:port, no path beyond a prefix. */
    url: z
      .string()
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'must be an http:// or https:// URL')
      .refine((u) => !new URL(u).search && !new URL(u).hash && !new URL(u).username, 'must not carry a query, fragment or credentials'),
    /** The model's name and version on that server; default: the same as here. */
    model: z.string().regex(NAME_PATTERN).optional(),
    version: z.string().regex(/^[0-9]{1,9}$/).optional(),
    /**
     * One request's deadline at the server; a request that runs past it counts against the
     * circuit. Capped just under the gateway's server.request_timeout_ms, so the gateway's own
     * deadline never hides a slow server from the circuit.
     */
    timeout_ms: z.number().int().min(10).max(600_000).default(10_000),
    /** Connections kept open to the server; more concurrent requests queue in the client. */
    connections: z.number().int().min(1).max(1024).default(32),
    /** Active health checks: GET /v2/models/{m}/versions/{v}/ready. */
    health: z
      .object({
        interval_ms: z.number().int().min(100).max(600_000).default(2_000),
        timeout_ms: z.number().int().min(10).max(60_000).default(1_000),
        /** Consecutive failed checks before the server is taken out of service. */
        unhealthy_after: z.number().int().min(1).max(100).default(2),
      })
      .strict()
      .prefault({}),
    /**
     * Circuit breaking (Envoy's outlier detection, in short): after `failures` requests in a row
     * fail (no connection, timeout, a 5xx, a broken answer), requests are refused at once for
     * `open_ms`, doubling on each reopening up to `max_open_ms`; after that one trial request,
     * or the next passing health check, closes it again.
     */
    circuit: z
      .object({
        failures: z.number().int().min(1).max(1000).default(5),
        open_ms: z.number().int().min(100).max(3_600_000).default(5_000),
        max_open_ms: z.number().int().min(100).max(3_600_000).default(300_000),
      })
      .strict()
      .prefault({}),
    /** Files (relative to this model.yaml's directory): the CA that signs the server, and vigil's client certificate and key for mutual TLS. */
    tls: z
      .object({
        ca: z.string().min(1).optional(),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** The name the server's certificate must carry; default: the URL's host. */
        server_name: z.string().min(1).max(253).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.tls) {
      if (new URL(b.url).protocol !== 'https:') ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs an https:// url' });
      if (!b.tls.cert !== !b.tls.key) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'a client certificate needs its key, and a key its certificate' });
    }
    if (b.circuit.max_open_ms < b.circuit.open_ms) ctx.addIssue({ code: 'custom', path: ['circuit', 'max_open_ms'], message: 'must be at least open_ms' });
  });

export const backendConfigSchema = z.discriminatedUnion('kind', [z.object({ kind: z.literal('local') }).strict(), remoteBackendSchema]);

export type BackendConfig = z.output<typeof backendConfigSchema>;
export type RemoteBackendConfig = z.output<typeof remoteBackendSchema>;

/** The schema of one remote backend on its own (tests and tools build one without a model.yaml). */
export const remoteBackendConfig = remoteBackendSchema;
