import type { Logger } from 'pino';
import type { TrafficPolicy } from '../../serving/src/traffic-policy.js';
import type { AuditRecord } from './audit/audit-record.js';
import type { ModelRegistry } from './model-registry.js';
import type { VigilMetrics } from './telemetry/metrics.js';
import type { ModelStats } from './telemetry/model-stats.js';

/** Why a canary was rolled back: the limit of traffic.yaml `rollback` it broke. */
export type RollbackReason = 'error_ratio' | 'latency' | 'agreement';

/**
 * Automatic rollback (issue 17, item 3): every `rollback.check_every_ms`, each canary of a split
 * (a version with weight, other than the one with the largest) is held to its model's
 * traffic.yaml limits over what it has served since it started (at least `min_requests`): the
 * share of 5xx answers, the mean time of its successful requests, and its top-1 agreement when it
 * is also the shadow version. One broken, its weight goes to the stable version at once (requests
 * already routed finish where they are), with an admin audit record, a log line and a metric.
 * The new split is written to traffic.yaml too, so a restart does not bring the canary back.
 */
export class RolloutGuard {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly stats: ModelStats,
    private readonly deps: {
      audit: (record: AuditRecord) => Promise<void>;
      metrics: VigilMetrics;
      log: Logger;
      /** Writes the model's split as it now stands to its traffic.yaml. */
      persist?: (model: string) => Promise<void>;
    },
  ) {}

  /** Checks again at the shortest `check_every_ms` of the models as they stand now (after a live load). */
  reschedule(): void {
    this.stop();
    this.start();
  }

  start(): void {
    const every = Math.min(...this.registry.trafficModels().map((m) => this.registry.trafficOf(m)?.rollback?.check_every_ms ?? Infinity));
    if (!Number.isFinite(every)) return;
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One round over every model with a split and rollback limits; resolves when its records are written. */
  async check(): Promise<void> {
    for (const model of this.registry.trafficModels()) {
      const policy = this.registry.trafficOf(model);
      if (!policy?.split || !policy.rollback) continue;
      const entries = Object.entries(policy.split);
      const [stable] = entries.reduce((best, e) => (e[1] > best[1] || (e[1] === best[1] && Number(e[0]) > Number(best[0])) ? e : best));
      for (const [version, weight] of entries) {
        if (version === stable || weight === 0) continue;
        const reason = this.broken(model, version, policy);
        if (!reason) continue;
        await this.rollBack(model, version, stable, policy, reason.reason, reason.detail);
        // One per model per round: the next round judges the others on the split as it then stands.
        break;
      }
    }
  }

  private broken(model: string, version: string, policy: TrafficPolicy): { reason: RollbackReason; detail: Record<string, number> } | null {
    const limits = policy.rollback!;
    const c = this.stats.countsOf(model, version);
    if (c.requests >= limits.min_requests) {
      const ratio = c.failures / c.requests;
      if (limits.max_error_ratio !== undefined && ratio > limits.max_error_ratio) return { reason: 'error_ratio', detail: { error_ratio: ratio, limit: limits.max_error_ratio, requests: c.requests } };
      if (limits.max_mean_latency_ms !== undefined && c.meanMs > limits.max_mean_latency_ms) return { reason: 'latency', detail: { mean_ms: c.meanMs, limit: limits.max_mean_latency_ms, requests: c.requests } };
    }
    if (limits.min_agreement !== undefined && policy.shadow?.version === version && c.shadowRows >= limits.min_requests) {
      const agreement = c.shadowAgree / c.shadowRows;
      if (agreement < limits.min_agreement) return { reason: 'agreement', detail: { agreement, limit: limits.min_agreement, rows: c.shadowRows } };
    }
    return null;
  }

  private async rollBack(model: string, version: string, stable: string, policy: TrafficPolicy, reason: RollbackReason, detail: Record<string, number>): Promise<void> {
    const split = Object.fromEntries(Object.keys(policy.split!).map((v) => [v, v === stable ? 100 : 0]));
    this.registry.setTraffic(model, { ...policy, split });
    this.deps.metrics.rollbacks.add(1, { model, version, reason });
    this.deps.log.error({ model, version, stable, reason, ...detail }, `CANARY ROLLED BACK: ${model}/${version} broke its ${reason} limit; all of ${model}'s traffic goes to version ${stable}`);
    let persisted = false;
    if (this.deps.persist) {
      try {
        await this.deps.persist(model);
        persisted = true;
      } catch (err) {
        this.deps.log.error({ model, err: (err as Error).message }, `the rollback of ${model} could not be written to its traffic.yaml: a restart would bring the canary back`);
      }
    }
    await this.deps
      .audit({ type: 'admin', time: new Date().toISOString(), event: 'rollout.rollback', principal: 'vigil', outcome: 'ok', detail: { model, version, stable, reason, ...detail, split_before: policy.split, split_after: split, persisted } })
      .catch((err: unknown) => this.deps.log.error({ err }, 'could not audit a rollback'));
  }
}
