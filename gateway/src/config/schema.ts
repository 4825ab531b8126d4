import { z } from 'zod';
import { SIGNING_ALGORITHMS } from '../../../serving/src/artifact-signing.js';
import { parseCidr } from '../../../policies/src/cidr.js';
import { RULE_DEFAULTS, type AlertRuleConfig } from '../alerts/alert-rules.js';

const port = z.number().int().min(0).max(65535);

/** Asymmetric algorithms only: shared-secret HS* would let anyone holding the JWKS mint tokens. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const issuerSchema = z
  .object({
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Where the issuer publishes its keys; fetched by vigil, cached, never taken from a token. */
    jwks_url: z.url({ protocol: /^https?$/ }).optional(),
    /** Or a local JWKS file. */
    jwks_file: z.string().optional(),
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1),
    /** Claim holding the roles: `roles` (array), `scope` (space-separated) or a dotted path such as `realm_access.roles`. */
    roles_claim: z.string().default('roles'),
    /**
     * `array`: only an array of strings; `space_separated`: also one string of space-separated
     * names (OAuth scopes). Unset: `space_separated` when roles_claim is `scope` or `scp`, else `array`.
     */
    roles_claim_format: z.enum(['array', 'space_separated']).optional(),
    /** Principal id = prefix + sub; give each issuer its own prefix when there are several. */
    principal_prefix: z.string().default('user:'),
    clock_tolerance_s: z.number().int().min(0).max(300).default(30),
    /** Tokens valid for longer than this (exp − iat) are refused. */
    max_lifetime_s: z.number().int().min(60).default(86_400),
    /** Required `typ` header, e.g. `at+jwt` (RFC 9068); unset: not checked. */
    typ: z.string().optional(),
    /** How long fetched keys are trusted without a successful refetch; they are refreshed after half of it. */
    jwks_cache_max_age_s: z.number().int().min(1).default(600),
  })
  .strict()
  .refine((i) => (i.jwks_url === undefined) !== (i.jwks_file === undefined), { message: 'give exactly one of jwks_url and jwks_file' })
  .transform((i) => ({ ...i, roles_claim_format: i.roles_claim_format ?? (i.roles_claim === 'scope' || i.roles_claim === 'scp' ? ('space_separated' as const) : ('array' as const)) }));
const ms = z.number().int().min(1);

/**
 * Where a kind of shared state is kept (gateway/src/stores/create-stores.ts builds them): `memory`,
 * in this process; `redis`, in a Redis server every replica shares.
 */
export const STORE_KINDS = ['memory', 'redis'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

const memoryStore = z.object({ kind: z.literal('memory') }).strict();
const redisStore = z
  .object({
    kind: z.literal('redis'),
    /** redis://[user:password@]host:port[/db], or rediss:// for TLS. */
    url: z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL'),
    /** Put before every key, so several vigil deployments (or other users) can share one server. */
    key_prefix: z.string().min(1).max(64).default('vigil:'),
    /** How long a command may take before the store counts as failing (the policy's on_store_failure decides what then). */
    command_timeout_ms: z.number().int().min(10).max(60_000).default(500),
    /** How long to wait for the server at start before vigil refuses to start. */
    connect_timeout_ms: z.number().int().min(100).max(120_000).default(5_000),
    /** limits: an in-flight slot lapses after this long, so a replica that dies holding slots gives them back (longer than any request). */
    slot_lease_ms: z.number().int().min(1_000).default(600_000),
    /** screening: a caller's extraction state is forgotten after this long without a query. */
    idle_ms: z.number().int().min(1_000).default(3_600_000),
  })
  .strict();
export type RedisStoreConfig = z.output<typeof redisStore>;

function storeSchema(what: string) {
  return z
    .preprocess(
      (v) => (v && typeof v === 'object' && !('kind' in v) ? { kind: 'memory', ...v } : v),
      z.discriminatedUnion('kind', [memoryStore, redisStore], {
        error: (issue) => {
          const kind = issue.input && typeof issue.input === 'object' ? (issue.input as { kind?: unknown }).kind : undefined;
          return `unknown store kind ${JSON.stringify(kind)} for ${what}; the kinds are: ${STORE_KINDS.join(', ')}`;
        },
      }),
    )
    .prefault({});
}

/** One anomaly rule's knobs; defaults from RULE_DEFAULTS (gateway/src/alerts/alert-rules.ts). */
function alertRule(d: Readonly<AlertRuleConfig>) {
  return z
    .object({
      severity: z.string().min(1).default(d.severity),
      /** EWMA weight of the newest interval. */
      alpha: z.number().gt(0).max(1).default(d.alpha),
      /** Fires when the interval's count > mean + k·std … */
      k: z.number().min(0).default(d.k),
      /** … and ≥ min_count. */
      min_count: z.number().int().min(1).default(d.min_count),
      /** Intervals after start before the rule may fire. */
      warmup_ticks: z.number().int().min(0).default(d.warmup_ticks),
      /** Calm intervals before a firing alert resolves. */
      resolve_ticks: z.number().int().min(1).default(d.resolve_ticks),
    })
    .strict()
    .prefault({});
}

/**
 * vigil's configuration file, the single source of truth for its shape and defaults.
 * Relative paths are resolved against the directory of the file that names them.
 */
export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8080),
        /**
         * This replica's name, when several run (also $VIGIL_REPLICA_ID, e.g. a Kubernetes pod name):
         * its audit chain is kept in audit.dir/<replica_id>/ and each record names it.
         */
        replica_id: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, _ . - (at most 63, starting with a letter or digit)')
          .optional(),
        /** Largest request body accepted, in bytes; larger ones get 413 before they are read. */
        max_body_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(4 * 1024 * 1024),
        /** Time a pool has to answer one request before the client gets 504. */
        request_timeout_ms: ms.default(30_000),
        /** Time a client has to send its headers and body. */
        client_timeout_ms: ms.default(60_000),
        /** On SIGTERM/SIGINT: how long in-flight requests may take to finish. */
        drain_timeout_ms: ms.default(10_000),
        /** Time a new connection has to send complete request headers: idle and slowloris connections are closed (408). */
        header_timeout_ms: ms.default(10_000),
        /** An idle keep-alive connection is closed after this. */
        keep_alive_timeout_ms: ms.default(5_000),
        /** Global bounds across every caller (503 OVERLOADED past them). Connections open at once; lowered at start to fit the descriptor limit. */
        max_connections: z.number().int().min(1).max(1_000_000).default(4_096),
        /** Requests being handled at once. */
        max_inflight_requests: z.number().int().min(1).max(1_000_000).default(1_024),
        /** Bytes of request bodies held at once (reading, validating, waiting on a pool). At least max_body_bytes. */
        max_buffered_body_bytes: z.number().int().min(1024).default(64 * 1024 * 1024),
        /**
         * Addresses (CIDR blocks) of load balancers whose X-Forwarded-For is believed. Empty (the
         * default): the client is the socket's peer, and X-Forwarded-For is ignored.
         */
        trusted_proxies: z
          .array(z.string().refine((t) => !('error' in parseCidr(t)), { message: 'not an IPv4/IPv6 address or CIDR block (host bits must be zero)' }))
          .max(256)
          .default([]),
      })
      .strict()
      .refine((s) => s.max_buffered_body_bytes >= s.max_body_bytes, { message: 'max_buffered_body_bytes must be at least max_body_bytes', path: ['max_buffered_body_bytes'] })
      .prefault({}),
    admin: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8081),
        /** Connections open at once on the admin port (probes, scrapes, operators). */
        max_connections: z.number().int().min(1).max(100_000).default(64),
      })
      .strict()
      .prefault({}),
    models: z
      .object({
        repository: z.string().default('models'),
        /** Private directory (mode 0700) for the pools' sockets; empty: a fresh one under the OS temp dir. */
        runtime_dir: z.string().default(''),
        /**
         * Public keys trusted to sign model versions (`vigil models sign`), by key id. A version
         * with a model.sig must verify with one of them, or it is refused.
         */
        trusted_keys: z
          .array(z.object({ kid: z.string().min(1).max(128), alg: z.enum(SIGNING_ALGORITHMS), public_key_file: z.string() }).strict())
          .default([])
          .refine((keys) => new Set(keys.map((k) => k.kid)).size === keys.length, 'each kid at most once'),
        /** Refuse every version without a valid signature by a trusted key. */
        require_signatures: z.boolean().default(false),
        /**
         * Triton's poll mode: every this many ms each model directory is looked at (names, sizes,
         * times of its files) and a model that changed is loaded again, one that appeared is
         * loaded, one whose directory is gone is unloaded; all audited as `vigil:poll`. How
         * replicas sharing a repository follow each other's promotions and rollbacks. 0: off.
         */
        poll_interval_ms: z.number().int().min(0).max(3_600_000).default(0),
        /**
         * OCI registries (`vigil models push|pull`, and model.yaml `source: oci://…@sha256:…`):
         * where pulled artifacts are kept, the most one may hold, each request's bound, and how
         * to reach each registry (HTTPS unless `plain_http`; credentials when it asks).
         */
        oci: z
          .object({
            cache_dir: z.string().default('.vigil/oci-cache'),
            max_artifact_bytes: z.number().int().min(1024).default(4 * 1024 ** 3),
            timeout_ms: z.number().int().min(100).max(600_000).default(30_000),
            /** A whole pull's bound, however slowly a registry sends: past it the version is refused. */
            pull_timeout_ms: z.number().int().min(1_000).max(3_600_000).default(300_000),
            registries: z
              .array(
                z
                  .object({
                    host: z.string().min(1).max(255),
                    plain_http: z.boolean().default(false),
                    username: z.string().max(256).optional(),
                    /** A file holding the password or token (never the config itself). */
                    password_file: z.string().optional(),
                  })
                  .strict(),
              )
              .default([]),
          })
          .strict()
          .prefault({}),
      })
      .refine((m) => !m.require_signatures || m.trusted_keys.length > 0, { message: 'require_signatures needs at least one trusted key', path: ['require_signatures'] })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /**
         * Development mode: vigil makes its own ES256 signing key (in state_dir), accepts tokens it
         * signed (issuer `vigil-dev`, audience `vigil`), serves their JWKS and lets `vigil token` mint them.
         */
        dev_mode: z.boolean().default(false),
        state_dir: z.string().default('.vigil'),
        issuers: z.array(issuerSchema).default([]),
        max_token_bytes: z.number().int().min(256).max(65_536).default(8_192),
        /** Verified tokens remembered (never past their exp) so repeat callers skip the signature check. */
        token_cache_size: z.number().int().min(0).max(1_000_000).default(10_000),
        /** Repeated authentication failures from one source address and claimed identity: slowed, then blocked. */
        failures: z
          .object({
            window_s: z.number().int().min(1).default(60),
            slow_after: z.number().int().min(0).default(5),
            slow_step_ms: z.number().int().min(0).default(200),
            slow_max_ms: z.number().int().min(0).max(10_000).default(2_000),
            /** Failures from one address claiming one identity (JWT iss+sub, API key id) before they are blocked. */
            block_after: z.number().int().min(1).default(20),
            /** Failures from one address, whatever identities it claims, before the address is blocked. */
            address_block_after: z.number().int().min(1).default(100),
            block_s: z.number().int().min(1).default(300),
            /** Where the failure counters and blocks are kept. */
            store: storeSchema('the auth-failure counters'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Rate limits: where the counters and in-flight slots are kept (the quotas themselves are in the policy file). */
    limits: z
      .object({
        store: storeSchema('the rate-limit counters and in-flight slots'),
      })
      .strict()
      .prefault({}),
    /** Detector screening: where quarantined callers and the extraction detector's per-caller state are kept. */
    screening: z
      .object({
        store: storeSchema('the quarantines and the extraction state'),
      })
      .strict()
      .prefault({}),
    policy: z
      .object({
        file: z.string().default('policies/vigil-policy.yaml'),
        /** Reload when the file changes: validate, then swap; an invalid file keeps the last good policy. */
        watch: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        dir: z.string().default('audit'),
        /** File holding the HMAC key for the hash chain; keep it away from the log. Unset: plain sha256. */
        hmac_key_file: z.string().optional(),
        /** File holding the Ed25519 private key (PEM) that signs checkpoints. */
        signing_key_file: z.string().optional(),
        max_file_bytes: z.number().int().min(4096).default(64 * 1024 * 1024),
        checkpoint_every_records: z.number().int().min(1).default(1_000),
        checkpoint_every_ms: z.number().int().min(100).default(60_000),
        /** An append not written within this long fails the request closed and turns the log unhealthy (a hung disk). */
        append_timeout_ms: ms.default(2_000),
        /** While the log is unhealthy, how often the writer tries to write again. */
        retry_ms: ms.default(1_000),
        /** How often the writer checks that its file is still on disk as written (and touches writer.lock: well under its 30 s staleness). */
        watch_ms: ms.max(10_000).default(1_000),
        /** fail_closed: no audit record, no answer (503). fail_open only for evaluation. */
        on_failure: z.enum(['fail_closed', 'fail_open']).default('fail_closed'),
        /**
         * Off unless a bound is set: remove the oldest sealed files, already covered by a checkpoint,
         * once older than max_age_days or while the log files hold more than max_bytes; each removal
         * is an `audit.retention` record first, so `vigil audit verify` shows it as documented.
         */
        retention: z
          .object({
            max_age_days: z.number().positive().optional(),
            max_bytes: z.number().int().min(4096).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    pools: z
      .object({
        start_timeout_ms: ms.default(30_000),
        stop_grace_ms: ms.default(5_000),
        /** Requests in flight to one model version's pool at once; past it, 503 OVERLOADED at once. */
        max_queue: z.number().int().min(1).max(100_000).default(1024),
        /**
         * sandbox: every worker in bubblewrap (no network, a read-only view of only its code and
         * model) and a cgroup with its pool's limits; process: plain child processes. Where the
         * sandbox cannot be made, vigil starts in process mode and says so loudly.
         */
        isolation: z.enum(['sandbox', 'process']).default('sandbox'),
        /** The account sandboxed workers run as when vigil runs as root (uid and gid; 65534 is nobody). */
        sandbox_uid: z.number().int().min(1).max(4_294_967_294).default(65534),
        restart: z
          .object({
            initial_backoff_ms: ms.default(250),
            max_backoff_ms: ms.default(10_000),
            max_restarts: z.number().int().min(0).default(5),
            window_ms: ms.default(60_000),
            /** A quarantined worker is tried once more after this long, doubling up to max_quarantine_retry_ms; 0: only an operator restarts it. */
            quarantine_retry_ms: z.number().int().min(0).default(60_000),
            max_quarantine_retry_ms: ms.default(900_000),
          })
          .strict()
          .prefault({}),
        health: z
          .object({
            interval_ms: ms.default(1_000),
            timeout_ms: ms.default(2_000),
            failures_before_replace: z.number().int().min(1).default(3),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Anomaly alerts (issue #4): streaming baselines of what the gateway sees. */
    alerts: z
      .object({
        enabled: z.boolean().default(true),
        /** Length of one counting interval. */
        tick_ms: z.number().int().min(50).default(10_000),
        /** Alertmanager to send alerts to (API v2); unset: audit log, metric and log only. */
        alertmanager_url: z.url({ protocol: /^https?$/ }).optional(),
        /** How often a firing alert is re-sent (keep it well under Alertmanager's resolve_timeout, 5 min by default). */
        resend_ms: ms.default(60_000),
        /** Keys (source addresses, principals, model versions) tracked per rule; the least recently active calm ones are evicted past it. */
        max_keys: z.number().int().min(1).max(1_000_000).default(10_000),
        rules: z
          .object({
            auth_failures_by_source: alertRule(RULE_DEFAULTS.auth_failures_by_source),
            denials_by_principal: alertRule(RULE_DEFAULTS.denials_by_principal),
            errors_by_model: alertRule(RULE_DEFAULTS.errors_by_model),
            requests_by_principal: alertRule(RULE_DEFAULTS.requests_by_principal),
            findings_by_principal: alertRule(RULE_DEFAULTS.findings_by_principal),
            latency_by_model: alertRule(RULE_DEFAULTS.latency_by_model),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type VigilConfig = z.output<typeof configSchema>;
