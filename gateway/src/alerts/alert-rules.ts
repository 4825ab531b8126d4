// The anomaly rules and their defaults: data, read by the config schema and the detector alike
// (the schema must not depend on the detector's code).

export const ALERT_RULES = ['auth_failures_by_source', 'denials_by_principal', 'errors_by_model', 'requests_by_principal', 'findings_by_principal', 'latency_by_model'] as const;
export type AlertRuleName = (typeof ALERT_RULES)[number];

export interface AlertRuleConfig {
  severity: string;
  /** EWMA weight of the newest interval. */
  alpha: number;
  /** Fire when value > mean + k·std. */
  k: number;
  /** ... and value ≥ min_count (keeps a near-zero baseline from firing on noise); for a mean rule, the samples an interval needs to be judged at all. */
  min_count: number;
  /** Intervals after start before this rule may fire. */
  warmup_ticks: number;
  /** Calm intervals in a row before a firing alert resolves. */
  resolve_ticks: number;
}

/** Defaults for the default 10 s interval; every field is overridable in `alerts.rules.<rule>`. */
export const RULE_DEFAULTS: Readonly<Record<AlertRuleName, Readonly<AlertRuleConfig>>> = {
  // One source address failing authentication far above its usual: credential stuffing, a broken client.
  auth_failures_by_source: { severity: 'warning', alpha: 0.1, k: 4, min_count: 10, warmup_ticks: 6, resolve_ticks: 3 },
  // One principal refused by policy far above its usual: probing for models it may not use.
  denials_by_principal: { severity: 'warning', alpha: 0.1, k: 4, min_count: 10, warmup_ticks: 6, resolve_ticks: 3 },
  // 5xx answers for one model version far above their usual: a failing pool or model.
  errors_by_model: { severity: 'critical', alpha: 0.1, k: 4, min_count: 5, warmup_ticks: 6, resolve_ticks: 3 },
  // One principal's request rate spiking (scraping, model extraction, a runaway client).
  requests_by_principal: { severity: 'warning', alpha: 0.05, k: 5, min_count: 100, warmup_ticks: 30, resolve_ticks: 6 },
  // One principal's anomalous detector findings (adversarial inputs, probing) far above its usual.
  findings_by_principal: { severity: 'warning', alpha: 0.1, k: 4, min_count: 5, warmup_ticks: 6, resolve_ticks: 3 },
  // One model version's mean latency (the pool round trip: queue, compute, I/O) far above its usual: a slow or overloaded pool.
  latency_by_model: { severity: 'warning', alpha: 0.1, k: 4, min_count: 20, warmup_ticks: 6, resolve_ticks: 3 },
};
