import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { CONNECTIONS_PER_WORKER } from '../../serving/src/local-pool-backend.js';
import { RemoteOipBackend } from '../../serving/src/remote/remote-backend.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { scanRepository } from '../../serving/src/model-repository.js';
import type { Launcher } from '../../serving/src/supervisor/launcher.js';
import type { Supervisor } from '../../serving/src/supervisor/supervisor.js';
import { PolicyStore } from '../../policies/src/index.js';
import { createAdminApp } from './admin.js';
import { createAlerting } from './alerts/alert-sinks.js';
import { observeForAlerts } from './alerts/observe-for-alerts.js';
import { AuditLog } from './audit/audit-log.js';
import { readHmacKeyFile, readSigningKeyFile } from './audit/chain.js';
import { auditLogOptions } from './config/audit-options.js';
import { AuthFailureThrottle } from './auth/auth-failure-throttle.js';
import { loadOrCreateDevKey } from './auth/dev-signing-key.js';
import { JwtAuthenticator } from './auth/jwt-authenticator.js';
import { RateLimits } from './limits/rate-limits.js';
import { policySourceOf } from './policy-adapter.js';
import { startTracing, stopTracing } from '../../serving/src/tracing.js';
import { createResponder, type AuditSink } from './respond.js';
import { createClientErrorHandler } from './client-error.js';
import { raiseDescriptorLimit, reservedDescriptors } from './descriptors.js';
import { Episode } from './episode.js';
import { createInferenceServer } from './inference-server.js';
import { GlobalBounds } from './limits/global-bounds.js';
import { createAdmitStage } from './stages/admit.js';
import { createAnswerStage } from './stages/answer.js';
import { createAuditHealthStage } from './stages/audit-health.js';
import { createAuthenticateStage } from './stages/authenticate.js';
import { createAuthorizeStage } from './stages/authorize.js';
import { createBodyStage } from './stages/body.js';
import { createDrainStage } from './stages/drain.js';
import { framingStage, MAX_HEADER_LINES } from './stages/framing.js';
import { createItemsStage } from './stages/items.js';
import { createOverloadStage } from './stages/overload.js';
import { createProxyStage } from './stages/proxy.js';
import { createQuarantineStage } from './stages/quarantine.js';
import { queueStage } from './stages/queue.js';
import { createResolveStage } from './stages/resolve.js';
import { routeStage } from './stages/route.js';
import { createScreenStage } from './stages/screen.js';
import { createShapeAnswerStage } from './stages/shape-answer.js';
import { createScreenAnswerStage } from './stages/screen-answer.js';
import { createShadowStage } from './stages/shadow.js';
import { createCacheLookupStage } from './stages/cache-lookup.js';
import { createCacheStoreStage } from './stages/cache-store.js';
import { ResponseCaches } from './answers/response-cache.js';
import { RolloutGuard } from './rollout-guard.js';
import { ModelLifecycle } from './lifecycle/model-lifecycle.js';
import { RepositoryPoller } from './lifecycle/repository-poller.js';
import { createSelectVersionStage } from './stages/select-version.js';
import { createSendStage } from './stages/send.js';
import { VigilMetrics } from './telemetry/metrics.js';
import { observeRequest } from './telemetry/request-metrics.js';
import { ModelStats } from './telemetry/model-stats.js';
import { artifactTrustOf } from './config/artifact-trust.js';
import { artifactSourceOf, ociSettingsOf } from './config/oci-settings.js';
import type { VigilConfig } from './config/schema.js';
import { ModelRegistry, type ServedVersion } from './model-registry.js';
import { createPipeline, vigilStageLists, type StageLists, type StageSet } from './pipeline.js';
import { sourceResolver } from './client-address.js';
import { chooseIsolation, type Isolation } from './isolation.js';
import { createPools, supervisorOf, type PoolOptions } from './pools.js';
import { prepareRuntimeDir } from './runtime-dir.js';
import { LARGE_BODY_BYTES, ParseTurns } from './limits/parse-turns.js';
import { prepareVersions } from './lifecycle/prepare-versions.js';
import { Quarantine } from './screening/quarantine.js';
import { createStores, type Stores } from './stores/create-stores.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Vigil {
  port: number;
  adminPort: number;
  registry: ModelRegistry;
  supervisor: Supervisor;
  policy: PolicyStore;
  audit: AuditLog;
  runtimeDir: string;
  /** Drains in-flight requests, stops every pool, closes both ports. Idempotent. */
  stop(): Promise<void>;
}

export interface VigilSeams {
  launcher?: Launcher;
  /** Tests only: the script a model version's workers run instead of vigil's (a hostile worker). */
  workerMain?: (model: string, version: string) => string | undefined;
  /** Stores to use instead of those the config names (e.g. one that fails, to test `on_store_failure`). */
  stores?: Partial<Stores>;
  /**
   * Benchmarks only (bench/security-chain.ts measures what the security chain costs): the stage
   * lists to run instead of vigil's own, made from the same stages. Not reachable from config or the CLI.
   */
  stages?: (all: StageSet) => StageLists;
  /** Benchmarks only: where answers are recorded instead of the audit log. */
  recordAnswersTo?: AuditSink;
  /** Benchmarks only (bench/telemetry-cost.ts): what observes each finished request instead of the request metrics and the alerts. */
  observeRequestsWith?: (ctx: Parameters<typeof observeRequest>[1], status: number, code: string | null) => void;
}

/** Starts vigil: pools for every loadable model version, the OIP port and the admin port. */
export async function startVigil(config: VigilConfig, log: Logger, seams: VigilSeams = {}): Promise<Vigil> {
  const metrics = new VigilMetrics(VERSION);
  if (startTracing('vigil-gateway', { 'service.version': VERSION })) log.info('traces are exported (OTLP and/or VIGIL_TRACES_DIR)');
  // Security parts first: if the policy, the audit log or the keys cannot be loaded, nothing starts.
  const policyStore = await PolicyStore.open(config.policy.file);
  const policy = policySourceOf(policyStore);
  // The same key loaders as `vigil audit verify`, so a log written with a key file verifies with it.
  const audit = await AuditLog.open(
    auditLogOptions(config.audit, {
      hmacKey: config.audit.hmac_key_file ? await readHmacKeyFile(config.audit.hmac_key_file) : undefined,
      signingKey: config.audit.signing_key_file ? await readSigningKeyFile(config.audit.signing_key_file) : undefined,
    }, config.server.replica_id),
  );
  // An outage is one error line when it starts and one when it ends, however many requests it refuses.
  const auditOutage = new Episode<unknown>({
    quietMs: 10_000,
    onStart: (err) => log.error({ err: (err as Error).message }, `AUDIT LOG FAILING: requests are refused while it lasts (${config.audit.on_failure})`),
    onEnd: ({ count, startedAt, endedAt }) => log.warn({ failures: count, from: startedAt.toISOString(), to: endedAt.toISOString() }, 'audit log failures stopped'),
  });
  audit.on('error', (err) => {
    // Retention failing keeps files longer; nothing is refused, so it is no outage.
    if (err.kind === 'retention') return void log.error({ err: err.message }, 'audit retention failed');
    metrics.auditWriteErrors.add(1);
    auditOutage.note(err);
  });
  audit.on('recovered', (info) => log.warn({ ...info }, 'audit log writable again'));
  const admin = (event: string, outcome: 'ok' | 'failed', detail: Record<string, unknown>) =>
    audit.append({ type: 'admin', time: new Date().toISOString(), event, principal: 'vigil', outcome, detail }).catch((err: unknown) => log.error({ err, event }, 'could not audit an admin event'));
  policyStore.on('reloaded', (e) => {
    metrics.policyReloads.add(1, { outcome: 'ok' });
    log.info({ file: e.file }, 'policy reloaded');
    void admin('policy.reload', 'ok', { file: e.file, digest: policyStore.current().digest });
  });
  policyStore.on('reload-failed', (e) => {
    metrics.policyReloads.add(1, { outcome: 'failed' });
    log.error({ file: e.file, problems: e.problems }, 'POLICY RELOAD FAILED: the last good policy stays in force');
    void admin('policy.reload', 'failed', { file: e.file, problems: e.problems });
  });
  if (config.policy.watch) policyStore.watch();
  const devKey = config.auth.dev_mode ? await loadOrCreateDevKey(config.auth.state_dir) : undefined;
  const jwt = await JwtAuthenticator.create(config.auth, devKey, log);
  // Where counters, slots, quarantines, auth failures and extraction state live (limits.store,
  // screening.store, auth.failures.store): a shared store must be reachable before anything serves.
  const createdStores = await createStores(config, log);
  const stores: Stores = { ...createdStores, ...seams.stores };
  // Anomaly alerts (issue #4): counted on the request path, decided on the detector's timer.
  const alerting = config.alerts.enabled ? createAlerting(config.alerts, { audit, metrics, log }) : undefined;
  const detector = alerting?.detector;
  const observe =
    seams.observeRequestsWith ??
    ((ctx: Parameters<typeof observeRequest>[1], status: number, code: string | null) => {
      observeRequest(metrics, ctx, status, code);
      if (detector) observeForAlerts(detector, ctx, status, code);
    });
  // Triton's statistics extension, counted at the same exit as the metrics.
  const modelStats = new ModelStats();
  const observeAll = (ctx: Parameters<typeof observeRequest>[1], status: number, code: string | null) => {
    modelStats.observe(ctx, status, code);
    observe(ctx, status, code);
  };
  const responder = createResponder(seams.recordAnswersTo ?? audit, config.audit.on_failure === 'fail_closed', (err) => auditOutage.note(err), observeAll);

  // Signatures are checked before anything of a version loads (models.trusted_keys).
  const trust = await artifactTrustOf(config.models);
  // Versions kept in an OCI registry are pulled and verified as the repository is read.
  const oci = artifactSourceOf(await ociSettingsOf(config.models));
  const scan = await scanRepository(config.models.repository, trust, oci);
  for (const note of scan.ignored) log.warn({ repository: scan.root }, `ignored in the model repository: ${note}`);
  const { versions, screening } = await prepareVersions([...scan.models.values()].flat(), { extraction: stores.extraction, budget: stores.budget });
  for (const v of versions) {
    if (v.status === 'refused') log.error({ model: v.name, version: v.version, reason: v.reason }, `MODEL REFUSED: ${v.name}/${v.version} will not be served: ${v.reason}`);
  }
  const runtime = await prepareRuntimeDir(config.models.runtime_dir);
  // A launcher from the seams (tests) means the test decides how workers run.
  const chosen = seams.launcher ? undefined : chooseIsolation(config.pools.isolation, log, config.pools.sandbox_uid);
  const launcher = seams.launcher ?? chosen!.launcher;
  const isolation: Isolation = chosen?.isolation ?? { requested: config.pools.isolation, mode: 'process', limits: 'none', seccomp: false, problems: ['a test launcher'] };
  const supervisor = supervisorOf(config.pools, launcher, log);
  const poolOptions: Omit<PoolOptions, 'screening' | 'generation'> = {
    maxBodyBytes: config.server.max_body_bytes,
    runTimeoutMs: config.server.request_timeout_ms,
    logLevel: log.level,
    maxQueue: config.pools.max_queue,
    sandboxed: isolation.mode === 'sandbox',
    workerMain: seams.workerMain,
    onRemoteEvent: (model, version, e) => {
      // One line and one audit record per change of a remote's health or circuit, never per request.
      const down = e.event === 'health' ? !e.healthy : e.state === 'open';
      const { event, ...detail } = e;
      log[down ? 'warn' : 'info']({ model, version, ...detail }, `remote backend of ${model}/${version}: ${e.event === 'health' ? (e.healthy ? 'healthy' : 'FAILING HEALTH CHECKS') : `circuit ${e.state}`}`);
      void admin(`backend.${event}`, down ? 'failed' : 'ok', { model, version, ...detail });
    },
  };
  const served = createPools(versions, supervisor, runtime.path, { ...poolOptions, screening });
  const byModel = new Map<string, ServedVersion[]>();
  for (const v of served) byModel.set(v.model, [...(byModel.get(v.model) ?? []), v]);
  const registry = new ModelRegistry(byModel, scan.traffic);
  metrics.observePools(registry);
  metrics.observeRuntime(registry);
  metrics.seedRareEvents(registry);
  const quarantine = new Quarantine(stores.quarantine);
  metrics.observeQuarantine(() => quarantine.active());
  metrics.observeStores(() => createdStores.health());
  supervisor.on('worker-exit', (slot: { pool: string }) => {
    const [model, version] = slot.pool.split('/');
    metrics.poolRestarts.add(1, { model, version });
  });
  supervisor.on('worker-oom', (slot: { pool: string; index: number }) => {
    const [model, version] = slot.pool.split('/');
    metrics.poolOomKills.add(1, { model, version });
    const v = registry.versionsOf(model).find((x) => x.version === version);
    const memoryMb = (v?.status === 'serving' && v.config.pool.resources?.memory_mb) || null;
    log.error({ model, version, worker: slot.index, memoryMb }, `pool worker of ${slot.pool} killed for going over its memory limit (OOM)`);
    void admin('pool.oom', 'failed', { model, version, worker: slot.index, memory_mb: memoryMb });
  });
  metrics.observeIsolation(isolation);
  for (const v of served) {
    if (v.status !== 'serving' || v.config.backend.kind !== 'oip-http') continue;
    const b = v.config.backend;
    if (!b.url.startsWith('https:')) log.warn({ model: v.model, version: v.version, url: b.url }, `remote backend of ${v.model}/${v.version} over plain HTTP: tensors and answers cross the network unencrypted and unauthenticated`);
    if (b.timeout_ms >= config.server.request_timeout_ms) {
      log.warn({ model: v.model, version: v.version, timeout_ms: b.timeout_ms, request_timeout_ms: config.server.request_timeout_ms }, `backend.timeout_ms of ${v.model}/${v.version} is not under server.request_timeout_ms: it is cut to just under it`);
    }
  }
  await supervisor.start();
  // Remote backends: the first health check, so start-up says where each stands.
  await Promise.all(served.map((v) => (v.status === 'serving' && v.backend instanceof RemoteOipBackend ? v.backend.start() : undefined)));

  let draining = false;
  const failClosed = config.audit.on_failure === 'fail_closed';
  const isReady = () => !draining && (audit.healthy || !failClosed) && registry.anyReady();
  const bounds = new GlobalBounds({ maxInflight: config.server.max_inflight_requests, maxBufferedBodyBytes: config.server.max_buffered_body_bytes });
  // Every stage, built once; pipeline.ts arranges them into the lists a request runs.
  const throttle = new AuthFailureThrottle(config.auth.failures, stores.authFailures);
  const rateLimits = new RateLimits(stores.rateLimits, stores.concurrency);
  const responseCaches = new ResponseCaches();
  const stageSet: StageSet = {
    overload: createOverloadStage(bounds), // global bound on requests in flight, whoever asks
    drain: createDrainStage(() => draining),
    framing: framingStage,
    auditHealth: failClosed ? createAuditHealthStage(audit) : undefined, // no record, no work
    route: routeStage,
    authenticate: createAuthenticateStage({ jwt, policy, throttle, log }),
    quarantine: createQuarantineStage(quarantine, { policy, log }),
    selectVersion: createSelectVersionStage(registry),
    authorize: createAuthorizeStage(policy),
    resolve: createResolveStage(registry),
    admit: createAdmitStage(policy, rateLimits, log), // in-flight slot, request quota
    queue: queueStage, // the model's pool queue has room
    body: createBodyStage(config.server.max_body_bytes, bounds, new ParseTurns(LARGE_BODY_BYTES)),
    items: createItemsStage(policy, rateLimits, log), // items, items per model
    screen: createScreenStage(policy, quarantine, log), // structural, profile
    cacheLookup: createCacheLookupStage(responseCaches, metrics), // versions with a response_cache
    proxy: createProxyStage({ timeoutMs: config.server.request_timeout_ms, responder }),
    cacheStore: createCacheStoreStage(responseCaches),
    shadow: createShadowStage(registry, metrics, modelStats, log, config.server.request_timeout_ms),
    screenAnswer: createScreenAnswerStage(policy, quarantine, log), // squeeze, extraction, budget
    shapeAnswer: createShapeAnswerStage(policy), // less of the answer for roles the policy says
    send: createSendStage(responder),
    answer: createAnswerStage({ registry, serverInfo: { name: 'vigil', version: VERSION }, responder, ready: isReady, stats: modelStats, policy }),
  };
  const handle = createPipeline((seams.stages ?? vigilStageLists)(stageSet), responder, log, sourceResolver(config.server.trusted_proxies));

  // Connections are capped below the descriptor limit, so a flood can never leave pool probes,
  // spawns or the audit log without descriptors (EMFILE once looked like every worker dying).
  const descriptors = raiseDescriptorLimit();
  const workers = served.reduce((n, v) => n + (v.status === 'serving' && v.pool ? v.pool.workers.length : 0), 0);
  const remoteConnections = served.reduce((n, v) => n + (v.status === 'serving' && v.config.backend.kind === 'oip-http' ? v.config.backend.connections : 0), 0);
  const reserve = reservedDescriptors(workers, CONNECTIONS_PER_WORKER, config.admin.max_connections) + remoteConnections;
  const maxConnections = descriptors.limit ? Math.max(1, Math.min(config.server.max_connections, descriptors.limit.soft - reserve)) : config.server.max_connections;
  if (descriptors.problem) log.warn({ problem: descriptors.problem, limit: descriptors.limit }, 'could not raise the descriptor limit');
  if (maxConnections < config.server.max_connections) {
    log.warn({ configured: config.server.max_connections, maxConnections, descriptorLimit: descriptors.limit?.soft, reserved: reserve }, 'server.max_connections lowered to fit the descriptor limit (raise `ulimit -n`)');
  }
  metrics.observeBounds(bounds, () => inference.openConnections(), maxConnections);
  const refusedConnections = new Episode({
    quietMs: 10_000,
    onStart: () => log.warn({ maxConnections }, 'OVERLOAD: refusing new connections (server.max_connections reached)'),
    onEnd: ({ count, startedAt, endedAt }) => {
      log.warn({ refused: count }, 'overload over: connections accepted again');
      void admin('overload.connections_refused', 'ok', { refused: count, from: startedAt.toISOString(), to: endedAt.toISOString(), max_connections: maxConnections });
    },
  });

  let active = 0;
  let onIdle: (() => void) | undefined;
  const inference = createInferenceServer({
    maxConnections,
    headerTimeoutMs: config.server.header_timeout_ms,
    clientTimeoutMs: config.server.client_timeout_ms,
    keepAliveTimeoutMs: config.server.keep_alive_timeout_ms,
    maxHeaderLines: MAX_HEADER_LINES,
    onRequest: (req, res) => {
      active++;
      res.once('close', () => {
        if (--active === 0) onIdle?.();
      });
      void handle(req, res);
    },
    onClientError: createClientErrorHandler({ audit, auditFailed: (err) => auditOutage.note(err), onRefused: (code) => metrics.rejections.add(1, { stage: 'framing', code }) }),
    onConnectionRefused: () => {
      metrics.connectionsRefused.add(1);
      refusedConnections.note();
    },
  });
  const server = inference.server;
  // Live loads and unloads (the repository extension); the rollout guard looks again after each.
  let rollouts: RolloutGuard | undefined;
  const lifecycle = new ModelLifecycle({
    root: scan.root,
    trust,
    oci,
    registry,
    supervisor,
    runtimeDir: runtime.path,
    pools: poolOptions,
    services: { extraction: stores.extraction, budget: stores.budget },
    stats: modelStats,
    metrics,
    audit: (r) => audit.append(r),
    log,
    drainMs: config.server.request_timeout_ms + 5_000,
    graceMs: config.pools.stop_grace_ms,
    onChange: () => rollouts?.reschedule(),
    responseCaches,
  });
  const adminApp = createAdminApp({
    lifecycle,
    responseCaches,
    registry,
    supervisor,
    isolation,
    isDraining: () => draining,
    isReady,
    authenticate: stageSet.authenticate,
    policy,
    audit,
    auditDir: audit.dir, // its own chain: with replicas, audit.dir/<replica_id>
    devJwks: devKey ? { keys: [devKey.publicJwk] } : undefined,
    metrics,
    log,
  });
  const adminServer = createServer({ headersTimeout: config.server.header_timeout_ms, connectionsCheckingInterval: 1_000 }, adminApp);
  adminServer.maxConnections = config.admin.max_connections;

  try {
    await listen(server, config.server.port, config.server.host);
    await listen(adminServer, config.admin.port, config.admin.host);
  } catch (err) {
    // A port in use must not leave pools behind.
    server.close();
    await supervisor.stop(config.pools.stop_grace_ms);
    chosen?.close();
    await Promise.all(served.map((v) => (v.status === 'serving' ? v.backend.close() : undefined)));
    if (runtime.created) await rm(runtime.path, { recursive: true, force: true });
    policyStore.close();
    await alerting?.stop();
    await createdStores.close().catch((e: unknown) => log.error({ err: e }, 'stores did not close cleanly'));
    await audit.close().catch((e: unknown) => log.error({ err: e }, 'audit log did not close cleanly'));
    throw err;
  }
  alerting?.start();
  // Canaries held to their traffic.yaml rollback limits.
  rollouts = new RolloutGuard(registry, modelStats, {
    audit: (r) => audit.append(r),
    metrics,
    log,
    // Written back, so a restart or the next load does not bring the broken canary back.
    persist: (model) => lifecycle.persistTraffic(model),
  });
  rollouts.start();
  // Triton's poll mode: replicas sharing a repository follow its changes (models.poll_interval_ms).
  const poller = new RepositoryPoller(scan.root, config.models.poll_interval_ms, lifecycle, registry, log);
  await poller.start();
  const port = (server.address() as AddressInfo).port;
  const adminPort = (adminServer.address() as AddressInfo).port;
  log.info({ port, adminPort, host: config.server.host, models: served.map((v) => `${v.model}/${v.version}:${v.status}`) }, 'vigil listening');
  await admin('vigil.start', 'ok', { port, adminPort, policy: policyStore.current().digest, models: served.map((v) => `${v.model}/${v.version}:${v.status}`) });

  let stopping: Promise<void> | undefined;
  async function stop(): Promise<void> {
    draining = true;
    rollouts?.stop();
    poller.stop();
    log.info({ inflight: active }, 'draining: no new requests, waiting for in-flight ones');
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    if (active > 0) {
      await Promise.race([new Promise<void>((r) => (onIdle = r)), delay(config.server.drain_timeout_ms)]);
    }
    server.closeAllConnections();
    await closed;
    // No request is left: versions retired by live loads stop now.
    await lifecycle.settle();
    await supervisor.stop(config.pools.stop_grace_ms);
    chosen?.close();
    await Promise.all(registry.all().map((v) => (v.status === 'serving' ? v.backend.close() : undefined)));
    adminServer.closeAllConnections();
    await new Promise<void>((r) => adminServer.close(() => r()));
    if (runtime.created) await rm(runtime.path, { recursive: true, force: true });
    policyStore.close();
    await alerting?.stop();
    refusedConnections.flush();
    auditOutage.flush();
    await createdStores.close().catch((err: unknown) => log.error({ err }, 'stores did not close cleanly'));
    await admin('vigil.stop', 'ok', {});
    await audit.close().catch((err: unknown) => log.error({ err }, 'AUDIT LOG DID NOT CLOSE CLEANLY (final checkpoint missing)'));
    await metrics.shutdown().catch(() => undefined);
    await stopTracing();
    log.info('vigil stopped');
  }

  return {
    port,
    adminPort,
    registry,
    supervisor,
    policy: policyStore,
    audit,
    runtimeDir: runtime.path,
    stop: () => (stopping ??= stop()),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
