import type { ModelConfig } from '../../serving/src/model-config.js';
import type { ModelSignature } from '../../oip/src/signature.js';
import type { Backend } from '../../serving/src/backend.js';
import type { Pool } from '../../serving/src/supervisor/pool.js';
import type { TrafficPolicy } from '../../serving/src/traffic-policy.js';
import type { ModelScreening } from './screening/model-screening.js';
import { VigilError } from './errors.js';

/**
 * One model version as the gateway serves it: with a backend, or refused with the reason.
 * `pool` is there when the backend is vigil's own (its worker processes, for metrics); `signer`
 * is the key id whose signature the version's artifact carries, when signed; `dir` is where it was read.
 */
export type ServedVersion =
  | { model: string; version: string; status: 'serving'; dir: string; config: ModelConfig; signature: ModelSignature; backend: Backend; pool?: Pool; screening: ModelScreening; signer?: string }
  | { model: string; version: string; status: 'refused'; reason: string };

export type ServingVersion = Extract<ServedVersion, { status: 'serving' }>;

/** The gateway's map of models and versions; resolves what a request addresses. */
export class ModelRegistry {
  /** versions of each model, highest first; each model's traffic policy (traffic.yaml), where it has one */
  private readonly models: Map<string, readonly ServedVersion[]>;
  private readonly traffic: Map<string, TrafficPolicy>;
  /** Requests holding each version (from resolve until their response closes): a retired version drains these. */
  private readonly leases = new WeakMap<ServingVersion, number>();

  constructor(models: ReadonlyMap<string, readonly ServedVersion[]>, traffic: ReadonlyMap<string, TrafficPolicy> = new Map()) {
    this.models = new Map(models);
    this.traffic = new Map(traffic);
  }

  /**
   * Swaps a model's versions and traffic policy at once (a live load or unload). Requests already
   * resolved keep the version objects they hold; new ones see only these.
   */
  replaceModel(model: string, versions: readonly ServedVersion[], traffic: TrafficPolicy | undefined): void {
    this.models.set(model, versions);
    if (traffic) this.traffic.set(model, traffic);
    else this.traffic.delete(model);
  }

  /** Marks a version in use by one request; the function returned releases it (once). */
  lease(v: ServingVersion): () => void {
    this.leases.set(v, (this.leases.get(v) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leases.set(v, this.leases.get(v)! - 1);
    };
  }

  /** Requests holding a version now. */
  leasesOf(v: ServingVersion): number {
    return this.leases.get(v) ?? 0;
  }

  /** A model's traffic policy as it stands: its split (after any automatic rollback) and shadow. */
  trafficOf(model: string): TrafficPolicy | undefined {
    return this.traffic.get(model);
  }

  /** Replaces a model's traffic policy at once (an automatic rollback); requests already routed keep their version. */
  setTraffic(model: string, policy: TrafficPolicy): void {
    this.traffic.set(model, policy);
  }

  /** Every model with a traffic policy. */
  trafficModels(): string[] {
    return [...this.traffic.keys()];
  }

  /** The version asked for, or the highest serving one when none is given; refused versions are errors. */
  resolve(model: string, version: string | undefined): ServingVersion {
    const versions = this.models.get(model);
    if (!versions) throw new VigilError('MODEL_NOT_FOUND', `model '${model}' is not in the repository`);
    const found = version === undefined ? (versions.find((v) => v.status === 'serving') ?? versions[0]) : versions.find((v) => v.version === version);
    if (!found) throw new VigilError('MODEL_VERSION_NOT_FOUND', `model '${model}' has no version '${version}'`);
    if (found.status === 'refused') {
      // Why, without the detail (the server log and the admin index have it): refused, or unloaded.
      const why = found.reason.startsWith('unloaded by') ? 'it was unloaded by an operator' : 'it was refused at load (see the server log)';
      throw new VigilError('MODEL_UNAVAILABLE', `model '${model}' version '${found.version}' is not being served: ${why}`);
    }
    return found;
  }

  /** A model's versions, highest first (for select-version). */
  versionsOf(model: string): readonly ServedVersion[] {
    return this.models.get(model) ?? [];
  }

  /**
   * OIP model metadata; `versions` lists every version being served. An input with a declared
   * value range says it in `parameters.range`, so a client learns that mnist takes [0, 1] before
   * a request is refused for 0–255 pixels.
   */
  metadata(target: ServingVersion): object {
    const ranges = new Map(target.config.inputs.map((t) => [t.name, t.range]));
    return {
      name: target.model,
      versions: this.servingVersions(target.model),
      platform: target.config.platform,
      inputs: target.signature.inputs.map((t) => {
        const range = ranges.get(t.name);
        return range ? { ...t, parameters: { range } } : t;
      }),
      outputs: target.signature.outputs,
    };
  }

  /** The versions of a model being served, highest first. */
  servingVersions(model: string): string[] {
    return (this.models.get(model) ?? []).filter((v) => v.status === 'serving').map((v) => v.version);
  }

  all(): ServedVersion[] {
    return [...this.models.values()].flat();
  }

  /**
   * True while at least one model version can answer. One model down (or quarantined) must not
   * make the whole gateway unready: per-model readiness is `/v2/models/{m}/ready`.
   */
  anyReady(): boolean {
    return this.all().some((v) => v.status === 'serving' && canServe(v.backend));
  }
}

/** Whether a backend takes requests now (all or some of its capacity is up). */
export function canServe(backend: Backend): boolean {
  return backend.status === 'ready' || backend.status === 'degraded';
}
