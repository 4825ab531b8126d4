import { EventEmitter } from 'node:events';
import { ALERT_RULES, RULE_DEFAULTS, type AlertRuleConfig, type AlertRuleName } from './alert-rules.js';
import { EwmaBaseline } from './ewma-baseline.js';

/**
 * Streaming anomaly detection on what the gateway sees (issue #4). The hot path only counts
 * (`observe`: one or two Map lookups); a timer closes the interval every `tickMs` for every
 * (rule, key), updates its EWMA baseline and decides. An alert fires once, stays active
 * (deduplicated) while the anomaly lasts, and resolves after `resolveTicks` calm intervals.
 *
 * Counts are sparse: a key not seen yet had 0 in every interval, so a new key starts from a zero
 * baseline that is as warm as its rule (an attacker's fresh source address is judged at once,
 * not after a warm-up of its own). Warm-up is thus per rule: no alert in the first
 * `warmupTicks` intervals after start, while baselines of known keys are still being learnt.
 *
 * Latency is a mean, not a count (`observeValue`): an interval's value is the mean of its
 * samples, judged only with `min_count` samples or more. A mean has no natural zero to start from,
 * so each key starts from its first judged interval and warms up on its own.
 */

/** Rules whose interval value is the mean of observed values (the rest count events). */
const MEAN_RULES: ReadonlySet<AlertRuleName> = new Set(['latency_by_model']);
/** For means, the spread is floored at this share of the mean: a steady latency must still rise by k·10% to fire. */
const MEAN_STD_FLOOR = 0.1;

export interface AlertEvent {
  rule: AlertRuleName;
  severity: string;
  key: string;
  labels: Record<string, string>;
  /** The count (or, for latency, the mean in ms) of the interval that caused the transition. */
  value: number;
  /** What `value` is: events in one interval, or a mean latency in milliseconds. */
  unit: 'count' | 'ms';
  /** The baseline's mean it was judged against. */
  baseline: number;
  /** mean + k·std (std floored at √mean), the bar the value crossed or fell back under. */
  threshold: number;
  /** When the alert started firing. */
  startsAt: Date;
  /** When it resolved ('resolved' only). */
  endsAt?: Date;
}

export interface AnomalyDetectorOptions {
  tickMs: number;
  rules?: Partial<Record<AlertRuleName, Partial<AlertRuleConfig>>>;
  /** Keys tracked per rule; past it the least recently active calm key is evicted. */
  maxKeysPerRule?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

interface KeyState {
  labels: Record<string, string>;
  baseline: EwmaBaseline;
  /** Count (events, or samples of a mean rule) in the current (open) interval. */
  count: number;
  /** Sum of a mean rule's samples in the current interval. */
  sum: number;
  /** Count of the last closed interval. */
  last: number;
  firing?: { startsAt: Date };
  calmTicks: number;
}

interface RuleState {
  name: AlertRuleName;
  cfg: AlertRuleConfig;
  unit: 'count' | 'ms';
  /** Insertion order ≈ recency of activity: a key is moved to the end on its first count in an interval. */
  keys: Map<string, KeyState>;
  /** Intervals closed since start (for the rule's warm-up). */
  ticks: number;
}

export interface AnomalyDetectorEvents {
  firing: [AlertEvent];
  resolved: [AlertEvent];
}

export class AnomalyDetector extends EventEmitter<AnomalyDetectorEvents> {
  readonly tickMs: number;
  private readonly rules = new Map<AlertRuleName, RuleState>();
  private readonly maxKeys: number;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  /** Keys evicted to stay within the bound (for status and tests). */
  evicted = 0;

  constructor(opts: AnomalyDetectorOptions) {
    super();
    if (!(opts.tickMs > 0)) throw new RangeError(`tickMs must be > 0, not ${opts.tickMs}`);
    this.tickMs = opts.tickMs;
    this.maxKeys = opts.maxKeysPerRule ?? 10_000;
    if (!(this.maxKeys >= 1)) throw new RangeError(`maxKeysPerRule must be ≥ 1, not ${this.maxKeys}`);
    this.now = opts.now ?? (() => new Date());
    for (const name of ALERT_RULES) {
      const cfg = { ...RULE_DEFAULTS[name], ...opts.rules?.[name] };
      new EwmaBaseline({ alpha: cfg.alpha, warmupTicks: cfg.warmup_ticks }); // validates
      this.rules.set(name, { name, cfg, unit: MEAN_RULES.has(name) ? 'ms' : 'count', keys: new Map(), ticks: 0 });
    }
  }

  /** The configuration a rule runs with. */
  ruleConfig(rule: AlertRuleName): AlertRuleConfig {
    return { ...this.rules.get(rule)!.cfg };
  }

  /** Counts `n` events for (rule, key) in the current interval. Cheap: called for every request. */
  observe(rule: AlertRuleName, key: string, labels: Record<string, string>, n = 1): void {
    const r = this.rules.get(rule);
    if (!r || !(n > 0) || r.unit !== 'count') return;
    this.stateOf(r, key, labels).count += n;
  }

  /** Adds one sample (e.g. a latency in ms) to a mean rule's current interval. */
  observeValue(rule: AlertRuleName, key: string, labels: Record<string, string>, value: number): void {
    const r = this.rules.get(rule);
    if (!r || r.unit === 'count' || !(value >= 0) || !Number.isFinite(value)) return;
    const s = this.stateOf(r, key, labels);
    s.count++;
    s.sum += value;
  }

  private stateOf(r: RuleState, key: string, labels: Record<string, string>): KeyState {
    let s = r.keys.get(key);
    if (s === undefined) {
      if (r.keys.size >= this.maxKeys) this.evictOne(r);
      // Never seen (or evicted when calm): a count rule's key had zero so far and is as warm as
      // its rule; a mean rule's key learns from its own first interval.
      const ticks = r.unit === 'count' ? r.ticks : 0;
      s = { labels, baseline: new EwmaBaseline({ alpha: r.cfg.alpha, warmupTicks: r.cfg.warmup_ticks }, { ticks }), count: 0, sum: 0, last: 0, calmTicks: 0 };
      r.keys.set(key, s);
    } else if (s.count === 0) {
      // First event of this interval: move to the end, so the front holds the longest idle keys.
      r.keys.delete(key);
      r.keys.set(key, s);
    }
    return s;
  }

  /** The bar an interval's value must cross: mean + k·std, the std floored (√mean for counts, 10% of the mean for means). */
  private threshold(r: RuleState, b: EwmaBaseline): number {
    return b.mean + r.cfg.k * Math.max(b.std, r.unit === 'count' ? Math.sqrt(b.mean) : MEAN_STD_FLOOR * b.mean);
  }

  /** Closes the current interval for every (rule, key): updates baselines, fires and resolves. */
  tick(): void {
    const now = this.now();
    for (const r of this.rules.values()) {
      const { k, min_count, resolve_ticks } = r.cfg;
      for (const [key, s] of r.keys) {
        const judged = r.unit === 'count' || (s.count > 0 && s.count >= min_count);
        const value = r.unit === 'count' ? s.count : judged ? s.sum / s.count : 0;
        s.count = 0;
        s.sum = 0;
        if (judged) s.last = value;
        // A mean rule's key starts its baseline at its first judged interval (no zero to start from).
        if (judged && r.unit !== 'count' && s.baseline.ticks === 0) s.baseline = new EwmaBaseline({ alpha: r.cfg.alpha, warmupTicks: r.cfg.warmup_ticks }, { mean: value });
        const b = s.baseline;
        const threshold = this.threshold(r, b);
        const anomalous = judged && b.warm && value >= (r.unit === 'count' ? min_count : 0) && value > threshold;
        // Anomalous intervals are not learnt: a sustained burst stays an anomaly until it stops.
        // Too few samples for a mean: nothing learnt, nothing judged.
        if (judged) b.update(value, { learn: !anomalous });
        if (anomalous) {
          s.calmTicks = 0;
          if (!s.firing) {
            s.firing = { startsAt: now };
            this.emit('firing', { rule: r.name, severity: r.cfg.severity, key, labels: s.labels, value, unit: r.unit, baseline: b.mean, threshold, startsAt: now });
          }
        } else if (s.firing && judged) {
          // Only a judged calm interval counts towards resolving: a model version that stopped
          // answering altogether must not look recovered for want of samples.
          if (++s.calmTicks >= resolve_ticks) {
            const { startsAt } = s.firing;
            s.firing = undefined;
            s.calmTicks = 0;
            this.emit('resolved', { rule: r.name, severity: r.cfg.severity, key, labels: s.labels, value: s.last, unit: r.unit, baseline: b.mean, threshold, startsAt, endsAt: now });
          }
        } else if (r.unit === 'count' && value === 0 && b.mean < 0.05) {
          // Idle and decayed to (almost) nothing: indistinguishable from a key never seen.
          r.keys.delete(key);
        }
      }
      r.ticks++;
    }
  }

  /** Alerts firing now. */
  active(): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const r of this.rules.values()) {
      for (const [key, s] of r.keys) {
        if (!s.firing) continue;
        const b = s.baseline;
        out.push({ rule: r.name, severity: r.cfg.severity, key, labels: s.labels, value: s.last, unit: r.unit, baseline: b.mean, threshold: this.threshold(r, b), startsAt: s.firing.startsAt });
      }
    }
    return out;
  }

  /** Keys tracked by a rule (for tests and status). */
  trackedKeys(rule: AlertRuleName): number {
    return this.rules.get(rule)!.keys.size;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Makes room for one key: the least recently active key that is not firing. A firing key is
   * kept while the bound allows (its alert must be able to resolve); if the oldest keys are all
   * firing (a flood of attacking addresses), the oldest goes, and its alert is resolved as it goes
   * so no sink is left re-sending it forever.
   */
  private evictOne(r: RuleState): void {
    let scanned = 0;
    let oldest: string | undefined;
    for (const [key, s] of r.keys) {
      oldest ??= key;
      if (!s.firing) {
        r.keys.delete(key);
        this.evicted++;
        return;
      }
      if (++scanned >= 64) break;
    }
    if (oldest === undefined) return;
    const s = r.keys.get(oldest)!;
    r.keys.delete(oldest);
    this.evicted++;
    const now = this.now();
    const b = s.baseline;
    this.emit('resolved', {
      rule: r.name,
      severity: r.cfg.severity,
      key: oldest,
      labels: s.labels,
      value: r.unit === 'count' ? s.count : s.last,
      unit: r.unit,
      baseline: b.mean,
      threshold: this.threshold(r, b),
      startsAt: s.firing!.startsAt,
      endsAt: now,
    });
  }
}
