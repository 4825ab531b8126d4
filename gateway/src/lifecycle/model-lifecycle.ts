import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { DetectorServices } from '../../../detectors/src/detector.js';
import type { ArtifactTrust } from '../../../serving/src/artifact-signing.js';
import { scanModel, type ArtifactSource, type ModelVersion } from '../../../serving/src/model-repository.js';
import { RemoteOipBackend } from '../../../serving/src/remote/remote-backend.js';
import type { Supervisor } from '../../../serving/src/supervisor/supervisor.js';
import { saveTrafficSplit } from '../../../serving/src/traffic-file.js';
import type { TrafficPolicy } from '../../../serving/src/traffic-policy.js';
import { NAME_PATTERN } from '../../../oip/src/names.js';
import type { ResponseCaches } from '../answers/response-cache.js';
import type { AuditRecord } from '../audit/audit-record.js';
import { VigilError } from '../errors.js';
import type { ModelRegistry, ServedVersion, ServingVersion } from '../model-registry.js';
import { createPools, type PoolOptions } from '../pools.js';
import type { VigilMetrics } from '../telemetry/metrics.js';
import type { ModelStats } from '../telemetry/model-stats.js';
import { prepareVersions } from './prepare-versions.js';

export interface LifecycleDeps {
  /** models.repository, absolute */
  root: string;
  trust: ArtifactTrust | undefined;
  /** Pulls and verifies versions whose model.yaml points to a registry. */
  oci: ArtifactSource;
  registry: ModelRegistry;
  supervisor: Supervisor;
  runtimeDir: string;
  pools: Omit<PoolOptions, 'screening' | 'generation'>;
  services: DetectorServices;
  stats: ModelStats;
  metrics: VigilMetrics;
  audit: (record: AuditRecord) => Promise<void>;
  log: Logger;
  /** How long a retired version waits for the requests holding it (the request timeout and a margin). */
  drainMs: number;
  /** pools.stop_grace_ms */
  graceMs: number;
  /** A model's traffic changed (the rollout guard looks at its limits again). */
  onChange: () => void;
  /** Kept answers of versions with a response cache: a load forgets those of the versions it keeps. */
  responseCaches: ResponseCaches;
}

/** What a version became in a load: started, kept as it was (same artifact), or still refused. */
export interface VersionOutcome {
  version: string;
  state: 'loaded' | 'kept' | 'unavailable';
  digest?: string;
  signer?: string;
  /** The registry reference it was pulled from, when its model.yaml points to one. */
  source?: string;
  reason?: string;
}

/**
 * Live changes to the models served (issue 17, item 2): Triton's repository extension and
 * `vigil models load|unload|promote|rollback`, all through here.
 *
 * A load reads the model's directory again and is all or nothing: every version it would serve
 * must pass its digest, signature, config, traffic.yaml and screening, and every new pool must
 * start, or nothing changes and what was serving keeps serving. A version whose artifact is the
 * same keeps its pool. Versions taken out (replaced or unloaded) leave the registry at once but
 * keep their pools until the requests holding them have finished: a request ends on the version
 * it started on. Loads and unloads of a model go one at a time; a promote or rollback never waits
 * for them (a load that sees the traffic change under it is refused instead). Each change is
 * audited by the caller's name, refusals included.
 */
export class ModelLifecycle {
  private generation = 0;
  /** Loads and unloads of each model, one after another. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** traffic.yaml writes of each model, one after another. */
  private readonly writes = new Map<string, Promise<unknown>>();
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly deps: LifecycleDeps) {}

  /**
   * `flushCaches` (default true): an operator's load empties the response caches of the versions it
   * keeps ("what it answered may be stale"); the repository poller's does not.
   */
  load(model: string, principal: string, opts: { flushCaches?: boolean } = {}): Promise<{ model: string; versions: VersionOutcome[]; traffic: TrafficPolicy | null }> {
    return this.serially('models.load', model, principal, () => this.loadNow(model, principal, opts.flushCaches ?? true));
  }

  unload(model: string, principal: string): Promise<{ model: string; unloaded: string[] }> {
    return this.serially('models.unload', model, principal, async () => {
      const current = this.deps.registry.versionsOf(model);
      if (current.length === 0) throw new VigilError('MODEL_NOT_FOUND', `model '${model}' is not loaded`);
      const reason = `unloaded by ${principal} at ${new Date().toISOString()}`;
      this.deps.registry.replaceModel(model, current.map((v): ServedVersion => ({ model, version: v.version, status: 'refused', reason })), undefined);
      const unloaded = current.filter((v) => v.status === 'serving').map((v) => v.version);
      for (const v of current) if (v.status === 'serving') this.retire(v);
      await this.audit('models.unload', principal, 'ok', { model, unloaded });
      this.deps.log.warn({ model, unloaded, principal }, `model ${model} unloaded`);
      return { model, unloaded };
    });
  }

  /** All unversioned traffic to `version` (a canary made stable); a shadow of that version stops. */
  promote(model: string, version: string, principal: string) {
    return this.audited('models.promote', model, principal, async () => {
      this.deps.registry.resolve(model, version); // 404 / 503 unless it is serving
      const before = this.deps.registry.trafficOf(model);
      const split = Object.fromEntries([...Object.keys(before?.split ?? {}), version].map((v) => [v, v === version ? 100 : 0]));
      return this.changeSplit('models.promote', model, principal, before, split, before?.shadow?.version === version, { version });
    });
  }

  /**
   * Every canary's weight back to the stable version: `to` if given, else the split's largest (as
   * the automatic rollback does). A rollback of a model with no split is refused: there is nothing
   * to go back from.
   */
  rollback(model: string, to: string | undefined, principal: string) {
    return this.audited('models.rollback', model, principal, async () => {
      const before = this.deps.registry.trafficOf(model);
      if (this.deps.registry.versionsOf(model).length === 0) throw new VigilError('MODEL_NOT_FOUND', `model '${model}' is not loaded`);
      if (!before?.split && to === undefined) throw new VigilError('NOTHING_TO_ROLL_BACK', `model '${model}' has no traffic split to roll back; name the version to go back to`);
      const entries = Object.entries(before?.split ?? {});
      const stable = to ?? entries.reduce((best, e) => (e[1] > best[1] || (e[1] === best[1] && Number(e[0]) > Number(best[0])) ? e : best))[0];
      this.deps.registry.resolve(model, stable);
      const split = Object.fromEntries([...entries.map(([v]) => v), stable].map((v) => [v, v === stable ? 100 : 0]));
      return this.changeSplit('models.rollback', model, principal, before, split, false, { stable });
    });
  }

  /** Waits for the versions being retired to drain and stop (vigil's own stop, once no request is left). */
  async settle(): Promise<void> {
    await Promise.all(this.retiring);
  }

  /**
   * Writes a model's split as it stands in memory now to its traffic.yaml (and drops a shadow that
   * is no longer there). Writes of one model go one after another, and each writes the latest
   * split, so the file ends as memory is, whatever order the changes came in.
   */
  persistTraffic(model: string): Promise<void> {
    const prev = this.writes.get(model) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        const now = this.deps.registry.trafficOf(model);
        if (now?.split) await saveTrafficSplit(join(this.deps.root, model), now.split, !now.shadow);
      });
    this.writes.set(model, run);
    void run.catch(() => undefined).finally(() => this.writes.get(model) === run && this.writes.delete(model));
    return run;
  }

  private async loadNow(model: string, principal: string, flushCaches: boolean) {
    const { registry, supervisor, log } = this.deps;
    // A promote or a rollback (an operator's or the guard's) while this load reads and starts
    // would be undone by the traffic.yaml it read: then the load is refused, to be run again.
    const trafficAtStart = registry.trafficOf(model);
    // And the file it reads is the one the last promote or rollback wrote, not the one before.
    await this.writes.get(model)?.catch(() => undefined);
    if (!NAME_PATTERN.test(model)) throw new VigilError('INVALID_PATH', 'model names start with a letter or digit and hold at most 128 characters');
    const fail = (problems: string[]): never => {
      log.error({ model, problems, principal }, `LOAD OF ${model} REFUSED: what was serving keeps serving`);
      throw new VigilError('MODEL_LOAD_FAILED', `${model} was not loaded: ${problems.join('; ')}`);
    };
    let scanned;
    try {
      scanned = await scanModel(this.deps.root, model, this.deps.trust, this.deps.oci);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
      throw new VigilError('MODEL_NOT_FOUND', `model '${model}' is not in the repository`);
    }
    if (scanned.versions.length === 0) return fail(['the model directory holds no version']);
    const { versions, screening } = await prepareVersions(scanned.versions, this.deps.services);
    const problems = versions.filter((v) => v.status === 'refused' && !v.excluded).map((v) => `version ${v.version}: ${v.status === 'refused' ? v.reason : ''}`);
    if (problems.length > 0) return fail(problems);

    const current = new Map(registry.versionsOf(model).flatMap((v) => (v.status === 'serving' ? [[v.version, v] as const] : [])));
    const kept = new Map<string, ServingVersion>();
    const fresh: ModelVersion[] = [];
    for (const v of versions) {
      if (v.status !== 'ok') continue;
      const cur = current.get(v.version);
      if (cur && sameArtifact(cur, v)) kept.set(v.version, cur);
      else fresh.push(v);
    }
    let started: ServedVersion[] = [];
    const poolsBefore = new Set(supervisor.allPools());
    try {
      started = createPools(fresh, supervisor, this.deps.runtimeDir, { ...this.deps.pools, screening, generation: ++this.generation });
    } catch (err) {
      // Pools it added before it threw are not left behind.
      for (const p of supervisor.allPools()) if (!poolsBefore.has(p)) void supervisor.removePool(p, this.deps.graceMs);
      return fail([(err as Error).message]);
    }
    const startProblems = await Promise.all(started.map((v) => this.startVersion(v)));
    const failed = startProblems.filter((p): p is string => p !== null);
    if (registry.trafficOf(model) !== trafficAtStart) failed.push(`the traffic of ${model} changed while it loaded (a promote or a rollback): load it again`);
    if (failed.length > 0) {
      for (const v of started) if (v.status === 'serving') void this.stopVersion(v);
      fail(failed);
    }

    const byVersion = new Map(started.map((v) => [v.version, v]));
    const next = versions.map((v): ServedVersion => kept.get(v.version) ?? byVersion.get(v.version) ?? { model, version: v.version, status: 'refused', reason: v.status === 'refused' ? v.reason : 'not started' });
    for (const v of started) if (v.status === 'serving') this.deps.stats.restart(v);
    registry.replaceModel(model, next, scanned.traffic);
    // Loading again is how an operator says "what it answered may be stale" (a remote's model changed).
    if (flushCaches) for (const v of kept.values()) this.deps.responseCaches.clear(v);
    for (const v of current.values()) if (kept.get(v.version) !== v) this.retire(v);
    this.deps.metrics.seedVersions(registry);
    this.deps.onChange();

    const sources = new Map(versions.flatMap((v) => (v.status === 'ok' && v.source ? [[v.version, v.source] as const] : [])));
    const outcomes: VersionOutcome[] = next.map((v) =>
      v.status === 'serving'
        ? { version: v.version, state: kept.has(v.version) ? 'kept' : 'loaded', ...(v.config.digest ? { digest: v.config.digest } : {}), ...(v.signer ? { signer: v.signer } : {}), ...(sources.has(v.version) ? { source: sources.get(v.version) } : {}) }
        : { version: v.version, state: 'unavailable', reason: v.reason },
    );
    const traffic = scanned.traffic ?? null;
    await this.audit('models.load', principal, 'ok', { model, versions: outcomes, retired: [...current.keys()].filter((v) => !kept.has(v)), split: traffic?.split ?? null, shadow: traffic?.shadow ?? null });
    log.info({ model, versions: outcomes, principal }, `model ${model} loaded`);
    return { model, versions: outcomes, traffic };
  }

  /** null once the version can answer, else why not. */
  private async startVersion(v: ServedVersion): Promise<string | null> {
    if (v.status === 'refused') return `version ${v.version}: ${v.reason}`;
    if (v.pool) {
      const up = await this.deps.supervisor.startPool(v.pool);
      if (up > 0) return null;
      const reasons = [...new Set(v.pool.workers.map((w) => w.reason ?? w.state))];
      return `version ${v.version}: no worker of its pool became ready (${reasons.join('; ')})`;
    }
    if (v.backend instanceof RemoteOipBackend) await v.backend.start();
    return null;
  }

  private async stopVersion(v: ServingVersion): Promise<void> {
    if (v.pool) {
      await this.deps.supervisor.removePool(v.pool, this.deps.graceMs);
      // Each load makes socket directories of its own: they go with the pool.
      await Promise.all(v.pool.workers.map((w) => rm(dirname(w.socketPath), { recursive: true, force: true })));
    }
    await v.backend.close();
  }

  /** Out of the registry already: its pool stops once the requests holding it are done (or drainMs passes). */
  private retire(v: ServingVersion): void {
    const done = (async () => {
      const deadline = Date.now() + this.deps.drainMs;
      while (this.deps.registry.leasesOf(v) > 0 && Date.now() < deadline) await delay(25);
      const left = this.deps.registry.leasesOf(v);
      if (left > 0) this.deps.log.warn({ model: v.model, version: v.version, requests: left }, 'a retired version still had requests when its drain time ran out; they fail');
      await this.stopVersion(v);
      this.deps.log.info({ model: v.model, version: v.version }, `retired ${v.model}/${v.version}: its pool is stopped`);
    })().catch((err: unknown) => this.deps.log.error({ err, model: v.model, version: v.version }, 'a retired version did not stop cleanly'));
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  private async changeSplit(event: string, model: string, principal: string, before: TrafficPolicy | undefined, split: Record<string, number>, dropShadow: boolean, detail: Record<string, unknown>) {
    const { shadow: _dropped, ...rest } = before ?? {};
    const after: TrafficPolicy = dropShadow ? { ...rest, split } : { ...before, split };
    this.deps.registry.setTraffic(model, after);
    this.deps.onChange();
    // Applied first: an operator's rollback must take effect even when the repository is read-only.
    let persisted: true | string = true;
    try {
      await this.persistTraffic(model);
    } catch (err) {
      persisted = (err as Error).message;
      this.deps.log.error({ model, err: persisted }, `traffic.yaml of ${model} could not be written: the change holds until a restart or the next load`);
    }
    await this.audit(event, principal, 'ok', { model, ...detail, split_before: before?.split ?? null, split_after: split, ...(dropShadow ? { shadow_stopped: before?.shadow?.version } : {}), persisted: persisted === true, ...(persisted === true ? {} : { persist_error: persisted }) });
    return { model, split, persisted: persisted === true };
  }

  /** Runs a load or unload after the model's previous one; audited like every change. */
  private serially<T>(event: string, model: string, principal: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(model) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.audited(event, model, principal, fn));
    this.queues.set(model, run);
    void run.catch(() => undefined).finally(() => this.queues.get(model) === run && this.queues.delete(model));
    return run;
  }

  /** A change whose refusal or failure is audited with its code (success is audited by the change itself). */
  private async audited<T>(event: string, model: string, principal: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const code = err instanceof VigilError ? err.code : 'INTERNAL_ERROR';
      await this.audit(event, principal, 'failed', { model, code, reason: (err as Error).message });
      throw err;
    }
  }

  /** Audits a change (and counts it: vigil_model_changes_total, VigilModelLoadFailed). */
  private audit(event: string, principal: string, outcome: 'ok' | 'failed', detail: Record<string, unknown>): Promise<void> {
    this.deps.metrics.modelChanges.add(1, { model: String(detail.model), change: event.replace('models.', ''), outcome });
    return this.deps.audit({ type: 'admin', time: new Date().toISOString(), event, principal, outcome, detail });
  }
}

/** The same artifact as the version already serving: the same config (its digest with it), directory and signer. */
function sameArtifact(cur: ServingVersion, v: Extract<ModelVersion, { status: 'ok' }>): boolean {
  return JSON.stringify(cur.config) === JSON.stringify(v.config) && cur.signer === v.signer && cur.dir === v.dir;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
