import type { RequestContext } from '../context.js';

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
}

/**
 * Triton's statistics extension (`GET /v2/models/{m}[/versions/{v}]/stats`), kept by this gateway
 * process for the inference requests that reached a model version: counts and cumulative
 * nanoseconds, as Triton's clients and perf tools read them. Per process: behind several
 * replicas each answers for itself (the Prometheus metrics are the fleet-wide view).
 */
export class ModelStats {
  private readonly versions = new Map<string, VersionStats>();

  /** One finished request (the responder's one exit): only inferences that reached a pool count. */
  observe(ctx: RequestContext, status: number): void {
    const target = ctx.target;
    if (ctx.route?.action !== 'model.infer' || target?.status !== 'serving' || ctx.proxiedAt === undefined) return;
    const key = `${target.model}\u0000${target.version}`;
    let s = this.versions.get(key);
    if (!s) {
      const zero = () => ({ count: 0, ns: 0 });
      s = { lastInferenceMs: 0, inferenceCount: 0, executions: 0, success: zero(), fail: zero(), queue: zero(), computeInfer: zero() };
      this.versions.set(key, s);
    }
    const ns = Number(process.hrtime.bigint() - ctx.startedAt);
    if (status >= 400) {
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
