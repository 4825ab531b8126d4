import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { Counter, Histogram } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { DETECTORS } from '../../../detectors/src/registry.js';
import type { GlobalBounds } from '../limits/global-bounds.js';
import { canServe, type ModelRegistry } from '../model-registry.js';
import { observeRuntime } from './runtime-metrics.js';

/**
 * Every series vigil exports, as Prometheus names: dashboards and alert rules are checked against
 * this list, and a test checks that a real scrape shows nothing outside it.
 */
export const EXPORTED_SERIES: readonly string[] = [
  ...histogram('http_server_request_duration_seconds'),
  'vigil_inference_requests_total',
  ...histogram('vigil_inference_duration_seconds'),
  ...histogram('vigil_inference_compute_duration_seconds'),
  ...histogram('vigil_inference_queue_duration_seconds'),
  ...histogram('vigil_inference_execution_batch_size'),
  'vigil_inference_items_total',
  ...histogram('vigil_inference_batch_size'),
  'vigil_inference_pending',
  'vigil_rejections_total',
  'vigil_auth_failures_total',
  'vigil_policy_denials_total',
  'vigil_ratelimit_rejections_total',
  'vigil_detector_inspections_total',
  'vigil_detector_findings_total',
  'vigil_quarantines_total',
  'vigil_principals_quarantined',
  'vigil_store_up',
  'vigil_screening_evictions_total',
  'vigil_pool_up',
  'vigil_pool_workers',
  'vigil_pool_restarts_total',
  'vigil_pool_oom_kills_total',
  'vigil_pool_isolation',
  'vigil_policy_reloads_total',
  'vigil_audit_write_errors_total',
  'vigil_alerts_total',
  'vigil_alertmanager_errors_total',
  'vigil_bound_usage',
  'vigil_bound_limit',
  'vigil_connections_refused_total',
  'vigil_shadow_requests_total',
  'vigil_shadow_rows_total',
  ...histogram('vigil_shadow_max_difference'),
  'vigil_shadow_min_agreement',
  'vigil_rollbacks_total',
  'vigil_response_cache_requests_total',
  'vigil_model_changes_total',
  'vigil_pool_queue_limit',
  'vigil_pool_worker_cpu_time_seconds_total',
  'vigil_pool_worker_memory_usage_bytes',
  'process_cpu_time_seconds_total',
  'process_memory_usage_bytes',
  'v8js_memory_heap_used_bytes',
  'nodejs_eventloop_utilization_ratio',
  'nodejs_eventloop_delay_p99_seconds',
  'target_info',
];

/**
 * The instruments that have a unit, and the suffix Prometheus names carry for it (`s` → seconds,
 * `By` → bytes, `1` → ratio), as the OpenTelemetry Collector's Prometheus exporter writes them: a
 * query written against a Collector (or a dashboard from elsewhere) then matches vigil's own
 * /metrics. The JavaScript exporter does not add them itself; views rename the instruments for it.
 */
const UNIT_SUFFIX: Record<string, string> = {
  'http.server.request.duration': 'seconds',
  'vigil.inference.duration': 'seconds',
  'vigil.inference.compute.duration': 'seconds',
  'vigil.inference.queue.duration': 'seconds',
  'process.cpu.time': 'seconds',
  'process.memory.usage': 'bytes',
  'v8js.memory.heap.used': 'bytes',
  'nodejs.eventloop.utilization': 'ratio',
  'nodejs.eventloop.delay.p99': 'seconds',
  'vigil.pool.worker.cpu.time': 'seconds',
  'vigil.pool.worker.memory.usage': 'bytes',
};

/**
 * Series that exist only where something is configured: a shadow version in a model's
 * traffic.yaml (test/gateway/traffic.test.ts scrapes them); every other series exists from the
 * first scrape.
 */
export const SERIES_WHEN_CONFIGURED: readonly string[] = ['vigil_shadow_requests_total', 'vigil_shadow_rows_total', ...histogram('vigil_shadow_max_difference'), 'vigil_shadow_min_agreement', 'vigil_rollbacks_total', 'vigil_response_cache_requests_total'];

function histogram(name: string): string[] {
  return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
}

/** OTel's recommended boundaries for HTTP durations, in seconds. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const COMPUTE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** Queue waits run from nothing to the request timeout (30 s by default). */
const QUEUE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * vigil's metrics, with the OpenTelemetry SDK, exposed in Prometheus format on the admin port.
 * Labels stay bounded: method, route template, status, model, version, error code, policy rule,
 * quota name. Never a principal, key, source address or request id.
 */
export class VigilMetrics {
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private stopRuntime: () => void = () => undefined;

  readonly httpDuration: Histogram;
  readonly inferenceRequests: Counter;
  readonly inferenceDuration: Histogram;
  readonly inferenceComputeDuration: Histogram;
  readonly inferenceQueueDuration: Histogram;
  readonly executionBatchSize: Histogram;
  readonly inferenceItems: Counter;
  readonly batchSize: Histogram;
  readonly rejections: Counter;
  readonly authFailures: Counter;
  readonly policyDenials: Counter;
  readonly rateLimitRejections: Counter;
  /**
   * Requests each detector judged. Five or so a request: counted in a Map (one lookup each) and
   * read at scrape time, since each counter add hashes its attributes anew (~3 µs apiece).
   */
  readonly detectorInspections = new Tally<{ model: string; version: string; detector: string }>();
  readonly detectorFindings: Counter;
  readonly quarantines: Counter;
  readonly poolRestarts: Counter;
  readonly poolOomKills: Counter;
  readonly policyReloads: Counter;
  readonly auditWriteErrors: Counter;
  readonly alerts: Counter;
  readonly alertmanagerErrors: Counter;
  readonly connectionsRefused: Counter;
  readonly shadowRequests: Counter;
  readonly responseCache: Counter;
  readonly modelChanges: Counter;
  readonly shadowRows: Counter;
  readonly shadowMaxDifference: Histogram;
  readonly rollbacks: Counter;

  constructor(version: string) {
    // The exporter serves through the admin app; it starts no server of its own.
    this.exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'vigil', 'service.version': version, 'service.instance.id': `${hostname()}:${process.pid}` }),
      readers: [this.exporter],
      views: Object.entries(UNIT_SUFFIX).map(([instrumentName, suffix]) => ({ instrumentName, name: `${instrumentName}.${suffix}` })),
    });
    const m = this.provider.getMeter('vigil');
    this.httpDuration = m.createHistogram('http.server.request.duration', {
      unit: 's',
      description: 'Duration of HTTP server requests (OTel HTTP semantic conventions), gateway rejections included',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.inferenceRequests = m.createCounter('vigil.inference.requests', { description: 'Inference requests that reached a pool, by outcome (success, failure)' });
    this.inferenceDuration = m.createHistogram('vigil.inference.duration', {
      unit: 's',
      description: 'Time from forwarding to the pool until its answer, as the gateway sees it',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.inferenceComputeDuration = m.createHistogram('vigil.inference.compute.duration', {
      unit: 's',
      description: "Time from the request's batch being chosen to the end of its ONNX Runtime run, as the pool reports it",
      advice: { explicitBucketBoundaries: COMPUTE_BUCKETS },
    });
    this.inferenceQueueDuration = m.createHistogram('vigil.inference.queue.duration', {
      unit: 's',
      description: "Time a request waited in the pool's queue for the model, as the pool reports it",
      advice: { explicitBucketBoundaries: QUEUE_BUCKETS },
    });
    this.executionBatchSize = m.createHistogram('vigil.inference.execution.batch_size', {
      description: "Items in the pool's run that served each request: the dynamic batcher merges concurrent requests into one run",
      advice: { explicitBucketBoundaries: BATCH_BUCKETS },
    });
    this.inferenceItems = m.createCounter('vigil.inference.items', { description: 'Items (batch rows) inferred' });
    this.batchSize = m.createHistogram('vigil.inference.batch_size', { description: 'Items per inference request', advice: { explicitBucketBoundaries: BATCH_BUCKETS } });
    this.rejections = m.createCounter('vigil.rejections', { description: 'Requests the gateway refused or failed, by stage and error code' });
    this.authFailures = m.createCounter('vigil.auth.failures', { description: 'Failed authentications, by error code' });
    this.policyDenials = m.createCounter('vigil.policy.denials', { description: 'Policy denials by the deciding rule; mode=shadow ones were let through' });
    this.rateLimitRejections = m.createCounter('vigil.ratelimit.rejections', { description: 'Rate-limit refusals by quota; mode=shadow ones were let through' });
    m.createObservableCounter('vigil.detector.inspections', { description: 'Requests each detector judged, by model and version' }).addCallback((r) => {
      for (const [labels, n] of this.detectorInspections.entries()) r.observe(n, labels);
    });
    this.detectorFindings = m.createCounter('vigil.detector.findings', { description: 'Anomalous detector findings by detector, signal, the action the policy took and its mode' });
    this.quarantines = m.createCounter('vigil.quarantines', { description: 'Principals quarantined, by the detector whose finding did it' });
    this.poolRestarts = m.createCounter('vigil.pool.restarts', { description: 'Pool worker exits that led to a restart or quarantine' });
    this.poolOomKills = m.createCounter('vigil.pool.oom_kills', { description: 'Pool workers the kernel killed for going over their memory limit (pool.resources.memory_mb)' });
    this.policyReloads = m.createCounter('vigil.policy.reloads', { description: 'Policy reloads by outcome (ok, failed)' });
    this.auditWriteErrors = m.createCounter('vigil.audit.write_errors', { description: 'Audit log write failures (each one fails requests closed)' });
    this.alerts = m.createCounter('vigil.alerts', { description: 'Anomaly alert transitions, by rule, severity and state (firing, resolved)' });
    this.alertmanagerErrors = m.createCounter('vigil.alertmanager.errors', { description: 'Sends to Alertmanager that failed after their retries' });
    this.modelChanges = m.createCounter('vigil.model.changes', { description: "Live changes to the models served, by model, change (load, unload, promote, rollback; an operator's or vigil:poll's) and outcome (ok, failed: refused, what was serving keeps serving)" });
    this.responseCache = m.createCounter('vigil.response_cache.requests', { description: 'Inference requests to versions with a response cache (model.yaml response_cache), by outcome: hit (answered from the cache) or miss' });
    this.shadowRequests = m.createCounter('vigil.shadow.requests', { description: 'Copies of requests sent to a shadow version (traffic.yaml), by outcome: compared, failed, skipped (over the in-flight bound)' });
    this.shadowRows = m.createCounter('vigil.shadow.rows', { description: "Rows a shadow version answered, by whether its top class agreed with the answer returned" });
    this.shadowMaxDifference = m.createHistogram('vigil.shadow.max_difference', {
      description: "Largest difference between a shadow version's output value and the returned one's, per compared request",
      advice: { explicitBucketBoundaries: [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1] },
    });
    this.rollbacks = m.createCounter('vigil.rollbacks', { description: "Canaries rolled back automatically (traffic.yaml rollback), by model, version and the limit broken: error_ratio, latency, agreement" });
    this.connectionsRefused = m.createCounter('vigil.connections.refused', { description: 'Connections refused at server.max_connections (a canned 503 OVERLOADED, no request read)' });
  }

  /**
   * Rare-event counters exist at 0 from the first scrape: Prometheus's increase() needs a sample
   * before the first event, or an alert on the first restart (or audit write error) never fires.
   */
  seedRareEvents(registry: ModelRegistry): void {
    this.seedVersions(registry);
    this.policyReloads.add(0, { outcome: 'ok' });
    this.policyReloads.add(0, { outcome: 'failed' });
    this.auditWriteErrors.add(0);
    this.alertmanagerErrors.add(0);
    this.connectionsRefused.add(0);
    for (const detector of DETECTORS) this.quarantines.add(0, { detector });
  }

  /** The per-version rare events, at start and again after a live load adds versions (adding 0 twice is harmless). */
  seedVersions(registry: ModelRegistry): void {
    // A failed load of each model, so the alert's increase() sees the first one.
    for (const model of new Set(registry.all().map((v) => v.model))) this.modelChanges.add(0, { model, change: 'load', outcome: 'failed' });
    for (const v of registry.all()) {
      if (v.status !== 'serving') continue;
      this.poolRestarts.add(0, { model: v.model, version: v.version });
      if (v.pool) this.poolOomKills.add(0, { model: v.model, version: v.version });
    }
    // Each canary that may be rolled back, so the rollback alert's increase() sees the first one.
    for (const model of registry.trafficModels()) {
      const traffic = registry.trafficOf(model);
      if (!traffic?.rollback || !traffic.split) continue;
      for (const version of Object.keys(traffic.split)) for (const reason of ['error_ratio', 'latency', 'agreement']) this.rollbacks.add(0, { model, version, reason });
    }
  }

  /** Principals in quarantine, read at scrape time. */
  observeQuarantine(count: () => Promise<number>): void {
    this.provider.getMeter('vigil').createObservableGauge('vigil.principals.quarantined', { description: 'Principals quarantined right now' }).addCallback(async (r) => r.observe(await count()));
  }

  /** Whether each shared-state store can be reached, read at scrape time. */
  observeStores(health: () => { store: string; kind: string; up: boolean; evictions?: number }[]): void {
    const m = this.provider.getMeter('vigil');
    m.createObservableGauge('vigil.store.up', { description: '1 while a state store (rate_limits, concurrency, quarantine, extraction, budget, auth_failures) can be reached; a memory store always can' }).addCallback((r) => {
      for (const h of health()) r.observe(h.up ? 1 : 0, { store: h.store, kind: h.kind });
    });
    // Never silent: a caller's extraction history or budget counter dropped for room is a blind spot.
    m.createObservableCounter('vigil.screening.evictions', { description: 'Callers\' extraction states and budget counters dropped before their time to stay within the store\'s bounds' }).addCallback((r) => {
      for (const h of health()) if (h.evictions !== undefined) r.observe(h.evictions, { store: h.store, kind: h.kind });
    });
  }

  /** How the pools are isolated: 1 on the series of the mode in force (requested, mode, limits, seccomp). */
  observeIsolation(isolation: { requested: string; mode: string; limits: string; seccomp: boolean }): void {
    const labels = { requested: isolation.requested, mode: isolation.mode, limits: isolation.limits, seccomp: String(isolation.seccomp) };
    this.provider
      .getMeter('vigil')
      .createObservableGauge('vigil.pool.isolation', { description: 'How pool workers are isolated: mode (sandbox, process), limits (cgroup-v1, cgroup-v2, none), seccomp; requested is pools.isolation' })
      .addCallback((r) => r.observe(1, labels));
  }

  /** Alert counters at 0 for each rule (state firing), so increase() sees the first alert. */
  seedAlerts(rules: Iterable<{ rule: string; severity: string }>): void {
    for (const { rule, severity } of rules) this.alerts.add(0, { rule, severity, state: 'firing' });
  }

  /** Pool state read at scrape time from the supervisor's view, never kept twice. */
  observePools(registry: ModelRegistry): void {
    const m = this.provider.getMeter('vigil');
    const workers = m.createObservableGauge('vigil.pool.workers', { description: 'Pool workers by state (starting, up, backoff, quarantined, stopped)' });
    const up = m.createObservableGauge('vigil.pool.up', { description: '1 while a model version takes requests: a live worker, or a remote backend passing its health checks with its circuit not open' });
    const pending = m.createObservableGauge('vigil.inference.pending', { description: 'Requests forwarded to a pool and not yet answered' });
    const capacity = m.createObservableGauge('vigil.pool.queue.limit', { description: 'Requests a pool takes at once (pools.max_queue); past it, 503 OVERLOADED' });
    // The alert compares shadow agreement with each model's own bar (traffic.yaml).
    m.createObservableGauge('vigil.shadow.min_agreement', { description: 'The top-1 agreement a shadow version must keep with the answers returned (traffic.yaml shadow.min_agreement)' }).addCallback((r) => {
      for (const model of new Set(registry.all().map((v) => v.model))) {
        const shadow = registry.trafficOf(model)?.shadow;
        if (shadow) r.observe(shadow.min_agreement, { model, shadow_version: shadow.version });
      }
    });
    m.addBatchObservableCallback(
      (result) => {
        for (const v of registry.all()) {
          if (v.status !== 'serving') continue;
          const labels = { model: v.model, version: v.version };
          if (v.pool) {
            // A remote backend has no workers of vigil's: its `up` says whether it takes requests.
            const counts: Record<string, number> = { starting: 0, up: 0, backoff: 0, quarantined: 0, stopped: 0 };
            for (const w of v.pool.workers) counts[w.state]++;
            for (const [state, n] of Object.entries(counts)) result.observe(workers, n, { ...labels, state });
          }
          const load = v.backend.load();
          result.observe(up, canServe(v.backend) ? 1 : 0, labels);
          result.observe(pending, load.inflight, labels);
          result.observe(capacity, load.capacity, labels);
        }
      },
      [workers, up, pending, capacity],
    );
  }

  /**
   * The global bounds (server.max_*): usage and limit of each, read at scrape time, so a
   * dashboard shows how close the gateway is to refusing everyone.
   */
  observeBounds(bounds: GlobalBounds, openConnections: () => number, maxConnections: number): void {
    const m = this.provider.getMeter('vigil');
    const usage = m.createObservableGauge('vigil.bound.usage', { description: 'Use of each global bound: open connections, requests in flight, bytes of buffered request bodies' });
    const limit = m.createObservableGauge('vigil.bound.limit', { description: 'Each global bound as configured (connections: after fitting the descriptor limit)' });
    m.addBatchObservableCallback(
      (result) => {
        result.observe(usage, openConnections(), { bound: 'connections' });
        result.observe(limit, maxConnections, { bound: 'connections' });
        result.observe(usage, bounds.inflight, { bound: 'inflight_requests' });
        result.observe(limit, bounds.config.maxInflight, { bound: 'inflight_requests' });
        result.observe(usage, bounds.bufferedBytes, { bound: 'buffered_body_bytes' });
        result.observe(limit, bounds.config.maxBufferedBodyBytes, { bound: 'buffered_body_bytes' });
      },
      [usage, limit],
    );
  }

  /** The gateway's process and runtime, and each pool worker's CPU and memory, read at scrape time. */
  observeRuntime(registry: ModelRegistry): void {
    this.stopRuntime = observeRuntime(this.provider.getMeter('vigil'), registry);
  }

  /** GET /metrics on the admin port. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.exporter.getMetricsRequestHandler(req, res);
  }

  shutdown(): Promise<void> {
    this.stopRuntime();
    return this.provider.shutdown();
  }
}

/** Counts by label set, kept in a Map and read at scrape time (an observable counter's callback). */
export class Tally<L extends Record<string, string>> {
  private readonly counts = new Map<string, { labels: L; n: number }>();

  add(key: string, labels: () => L, n = 1): void {
    const found = this.counts.get(key);
    if (found) found.n += n;
    else this.counts.set(key, { labels: labels(), n });
  }

  *entries(): IterableIterator<[L, number]> {
    for (const { labels, n } of this.counts.values()) yield [labels, n];
  }
}
