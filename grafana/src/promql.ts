/**
 * Small PromQL builders, so every dashboard filters and rates the same way, and the two functions
 * the tests need: the metric names an expression reads, and an expression with Grafana's
 * variables replaced so a bare Prometheus can run it.
 */

/** Grafana's rate window: at least four scrape intervals (the data source's `timeInterval`). */
export const RATE_WINDOW = '[$__rate_interval]';

/**
 * `metric{job=~"$job", instance=~"$instance", …}`. Every query is scoped to the jobs that scrape vigil (the `job`
 * variable lists the jobs whose `target_info` says `service_name="vigil"`), because
 * `http_server_request_duration_seconds` is an OpenTelemetry convention that other services export too.
 */
export function vigil(metric: string, matchers = ''): string {
  return `${metric}{job=~"$job", instance=~"$instance"${matchers ? `, ${matchers}` : ''}}`;
}

/** `metric{job=~"$job", model=~"$model", version=~"$version", …}`: for per-model-version series. */
export function perModel(metric: string, matchers = ''): string {
  return vigil(metric, `model=~"$model", version=~"$version"${matchers ? `, ${matchers}` : ''}`);
}

/** `rate(selector[$__rate_interval])` */
export function rate(selector: string): string {
  return `rate(${selector}${RATE_WINDOW})`;
}

/** `increase(selector[$__rate_interval])`: events per interval, for rare ones. */
export function increase(selector: string): string {
  return `increase(${selector}${RATE_WINDOW})`;
}

/** `sum by (labels) (inner)`, or `sum(inner)` with no labels. */
export function sumBy(labels: string[], inner: string): string {
  return labels.length ? `sum by (${labels.join(', ')}) (${inner})` : `sum(${inner})`;
}

/** The q-quantile of a histogram over the rate window, per `labels`. `bucket` is a `_bucket` selector. */
export function quantile(q: number, labels: string[], bucket: string): string {
  return `histogram_quantile(${q}, ${sumBy(['le', ...labels], rate(bucket))})`;
}

/**
 * `numerator / denominator`, with a numerator that has no series (no failures yet: a counter
 * appears only once it has a value) counted as 0 instead of making the ratio disappear.
 * `labels` must be the grouping of both sides.
 */
export function ratio(numerator: string, denominator: string, labels: string[]): string {
  const zero = labels.length ? `${denominator} * 0` : 'vector(0)';
  return `(${numerator} or ${zero}) / ${denominator}`;
}

/** Requests refused before routing have no `http_route`; give them a name a legend can show. */
export function namedRoute(expr: string): string {
  return `label_replace(${expr}, "http_route", "(no route)", "http_route", "")`;
}

/**
 * Adds `status_class` ("2xx", "4xx", …) from `http_response_status_code`. `${1}`, not `$1`:
 * Prometheus would read `$1xx` as a group named "1xx". (Grafana leaves `${1}` alone: no such variable.)
 */
export function withStatusClass(expr: string): string {
  return `label_replace(${expr}, "status_class", "\${1}xx", "http_response_status_code", "([1-5])..")`;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads (not functions, aggregations, keywords, label
 * names or values). Enough PromQL for what dashboards hold: strings, label matchers, ranges,
 * grouping clauses and `offset` are removed first, then every remaining identifier that is not
 * called is a metric name.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.$])[a-zA-Z_:][\w:]*/g)) {
    const after = stripped.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

/**
 * Values for Grafana's variables in a query run outside Grafana: the dashboard variables as
 * "All" (`.*`), and Grafana's built-in intervals as fixed durations.
 */
export const DEFAULT_VARIABLE_VALUES: Readonly<Record<string, string>> = {
  job: '.*',
  instance: '.*',
  model: '.*',
  version: '.*',
  __rate_interval: '1m',
  __interval: '15s',
  __range: '5m',
};

/** `expr` with `$name` and `${name}` replaced from `values`; unknown names are left as they are. */
export function interpolate(expr: string, values: Readonly<Record<string, string>> = DEFAULT_VARIABLE_VALUES): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (match, braced: string | undefined, bare: string | undefined) => values[(braced ?? bare)!] ?? match);
}
