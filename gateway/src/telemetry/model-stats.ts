import type { RequestContext } from '../context.js';
import type { ServingVersion } from '../model-registry.js';

interface Duration {
  count: number;
  ns: number;
}

interface VersionStats {
  lastInferenceMs: number;
  inferenceCount: number;
  /** Runs of the model, estimated from each request's share of its batch (batchSize / batchItems). */
  executions: number;
  success: Duration;
  fail: Duration;
  queue: Duration;
  computeInfer: Duration;
  /** Rows a shadow copy to this version was compared on, and agreed on (top-1). */
  shadowRows: number;
  shadowAgree: number;
}

/**
 * Triton's statistics extension (`GET /v2/models/{m}[/versions/{v}]/stats`), kept by this gateway
 * process for the inference requests that reached a model version: counts and cumulative
 * nanoseconds, as Triton's clients and perf tools read them. Per process: behind several
 * replicas each answers for itself (the Prometheus metrics are the fleet-wide view).
 */
export class ModelStats {
  private readonly versions = new Map<string, VersionStats>();
  /** The artifact each record belongs to, once a version was loaded anew: the old one's late requests are not its record. */
  private readonly owners = new Map<string, WeakRef<ServingVersion>>();

  /** One finished request (the responder's one exit): only inferences that reached a pool count. */
  observe(ctx: RequestContext, status: number, code: string | null = null): void {
    const target = ctx.target;
    if (ctx.route?.action !== 'model.infer' || target?.status !== 'serving' || ctx.proxiedAt === undefined) return;
    if (!this.owns(target)) return;
    const s = this.statsOf(target.model, target.version);
    const ns = Number(process.hrtime.bigint() - ctx.startedAt);
    // The caller's own deadline passing is not the model's doing: neither success nor failure.
    if (code === 'DEADLINE_EXCEEDED') return;
    // A failure is the model's (5xx: a pool error, a timeout); a detector refusing the answer is not.
    if (status >= 500) {
      add(s.fail, ns);
      return;
    }
    s.lastInferenceMs = Date.now();
    add(s.success, ns);
    const items = ctx.body?.batchSize ?? 1;
    s.inferenceCount += items;
    s.executions += ctx.poolBatchItems ? items / ctx.poolBatchItems : 1;
    if (ctx.poolQueueSeconds !== undefined) add(s.queue, ctx.poolQueueSeconds * 1e9);
    if (ctx.poolComputeSeconds !== undefined) add(s.computeInfer, ctx.poolComputeSeconds * 1e9);
  }

  /** A shadow copy to `version` compared: rows agreeing on the top class, of rows. */
  observeShadow(shadow: ServingVersion, agree: number, rows: number): void {
    if (!this.owns(shadow)) return;
    const s = this.statsOf(shadow.model, shadow.version);
    s.shadowAgree += agree;
    s.shadowRows += rows;
  }

  /** Starts a version's record again for the artifact now loaded: what the old one did (even finishing later) is not its record. */
  restart(v: ServingVersion): void {
    const key = `${v.model}\u0000${v.version}`;
    this.versions.delete(key);
    this.owners.set(key, new WeakRef(v));
  }

  private owns(v: ServingVersion): boolean {
    // Held weakly: a version unloaded for good must not be kept alive (its pool, its cache) by its record.
    const owner = this.owners.get(`${v.model}\u0000${v.version}`);
    return owner === undefined || owner.deref() === v;
  }

  /** A version's counts as they stand (for the rollout guard). */
  countsOf(model: string, version: string): { requests: number; failures: number; meanMs: number; shadowRows: number; shadowAgree: number } {
    const s = this.versions.get(`${model}\u0000${version}`);
    if (!s) return { requests: 0, failures: 0, meanMs: 0, shadowRows: 0, shadowAgree: 0 };
    return { requests: s.success.count + s.fail.count, failures: s.fail.count, meanMs: s.success.count ? s.success.ns / s.success.count / 1e6 : 0, shadowRows: s.shadowRows, shadowAgree: s.shadowAgree };
  }

  private statsOf(model: string, version: string): VersionStats {
    const key = `${model}\u0000${version}`;
    let s = this.versions.get(key);
    if (!s) {
      const zero = () => ({ count: 0, ns: 0 });
      s = { lastInferenceMs: 0, inferenceCount: 0, executions: 0, success: zero(), fail: zero(), queue: zero(), computeInfer: zero(), shadowRows: 0, shadowAgree: 0 };
      this.versions.set(key, s);
    }
    return s;
  }

  /** The statistics answer for these versions of a model, in Triton's shape. */
  of(model: string, versions: readonly string[]): object {
    return {
      model_stats: versions.map((version) => {
        const s = this.versions.get(`${model}\u0000${version}`);
        const d = (x: Duration | undefined) => ({ count: x?.count ?? 0, ns: Math.round(x?.ns ?? 0) });
        return {
          name: model,
          version,
          last_inference: s?.lastInferenceMs ?? 0,
          inference_count: s?.inferenceCount ?? 0,
          execution_count: Math.round(s?.executions ?? 0),
          inference_stats: {
            success: d(s?.success),
            fail: d(s?.fail),
            queue: d(s?.queue),
            // The pool reports its run as one figure: input and output conversion are inside compute_infer.
            compute_input: d(undefined),
            compute_infer: d(s?.computeInfer),
            compute_output: d(undefined),
            cache_hit: d(undefined),
            cache_miss: d(undefined),
          },
          batch_stats: [],
        };
      }),
    };
  }
}

function add(d: Duration, ns: number): void {
  d.count++;
  d.ns += ns;
}
