/**
 * A streaming baseline of a per-interval count: an exponentially weighted moving average (EWMA)
 * of the count and of its variance, and a warm-up. Pure: no clock, no timer, no I/O.
 *
 * Each `update(count)` closes one interval. It returns that interval judged against the baseline
 * *as it was before the interval* (an anomaly must not raise the bar it is measured against),
 * then learns from it, unless told not to (the detector does not learn from anomalous
 * intervals, so a sustained attack cannot teach the baseline that it is normal).
 *
 *   diff  = x − mean
 *   mean ← mean + α·diff
 *   var  ← (1 − α)·(var + α·diff²)          (West 1979; Finch 2009, "Incremental calculation of
 *                                            weighted mean and variance")
 */

export interface EwmaOptions {
  /** Weight of the newest interval, 0 < alpha ≤ 1 (0.1: about the last 10 intervals matter). */
  alpha: number;
  /** Intervals that must have been seen before the baseline is trusted (`warm`). */
  warmupTicks: number;
}

/** Where a baseline starts: by default nothing seen (mean 0, variance 0, 0 ticks). */
export interface EwmaState {
  mean: number;
  variance: number;
  /** Intervals seen so far. */
  ticks: number;
}

export interface BaselineSample {
  /** The count of the interval just closed. */
  value: number;
  /** The baseline's mean before this interval. */
  mean: number;
  /** The baseline's standard deviation before this interval. */
  std: number;
  /** Whether the baseline had seen `warmupTicks` intervals before this one. */
  warm: boolean;
}

export class EwmaBaseline {
  private readonly alpha: number;
  private readonly warmupTicks: number;
  private m: number;
  private v: number;
  private n: number;

  constructor(opts: EwmaOptions, start: Partial<EwmaState> = {}) {
    if (!(opts.alpha > 0 && opts.alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], not ${opts.alpha}`);
    if (!Number.isInteger(opts.warmupTicks) || opts.warmupTicks < 0) throw new RangeError(`warmupTicks must be an integer ≥ 0, not ${opts.warmupTicks}`);
    this.alpha = opts.alpha;
    this.warmupTicks = opts.warmupTicks;
    this.m = start.mean ?? 0;
    this.v = start.variance ?? 0;
    this.n = start.ticks ?? 0;
  }

  get mean(): number {
    return this.m;
  }

  get std(): number {
    return Math.sqrt(this.v);
  }

  get ticks(): number {
    return this.n;
  }

  get warm(): boolean {
    return this.n >= this.warmupTicks;
  }

  state(): EwmaState {
    return { mean: this.m, variance: this.v, ticks: this.n };
  }

  /**
   * Closes one interval with `count`: returns it judged against the baseline so far, then learns
   * it. With `learn: false` the interval is counted (for warm-up) but mean and variance stay.
   */
  update(count: number, opts: { learn?: boolean } = {}): BaselineSample {
    if (!Number.isFinite(count) || count < 0) throw new RangeError(`count must be finite and ≥ 0, not ${count}`);
    const sample: BaselineSample = { value: count, mean: this.m, std: Math.sqrt(this.v), warm: this.warm };
    if (opts.learn !== false) {
      const diff = count - this.m;
      const incr = this.alpha * diff;
      this.m += incr;
      this.v = (1 - this.alpha) * (this.v + diff * incr);
    }
    this.n++;
    return sample;
  }
}
