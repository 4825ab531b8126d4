import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { buildDashboards, panelsOf } from './dashboards.js';
import { DEFAULT_VARIABLE_VALUES, interpolate } from './promql.js';

/**
 * Every query the dashboards hold, for tests: PromQL ones to run through a real Prometheus,
 * LogQL ones to check against the streams vigil's logs are shipped as.
 */

export interface DashboardQuery {
  /** The dashboard's title. */
  dashboard: string;
  /** The panel's title, or `variable $name` / `annotation <name>`. */
  panel: string;
  /** Runnable as is: Grafana's variables replaced (see `DEFAULT_VARIABLE_VALUES`). */
  expr: string;
  /** As the dashboard stores it. */
  rawExpr: string;
  /** The panel asks for one value at the end of the range, not a range. */
  instant: boolean;
}

interface Located extends Omit<DashboardQuery, 'expr'> {
  datasource: string | undefined;
}

interface VariableJson {
  name: string;
  type: string;
  datasource?: { type?: string };
  query?: string | { query?: string };
}

interface AnnotationJson {
  name: string;
  builtIn?: number;
  datasource?: { type?: string; uid?: string };
  expr?: string;
  target?: { expr?: string };
}

/** `label_values(selector, label)` (Grafana's, not PromQL) as the PromQL that returns those values. */
export function labelValuesAsPromQL(query: string): string | undefined {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
  return m ? `group by (${m[2]}) (${m[1]})` : undefined;
}

function located(dashboards: dashboard.Dashboard[]): Located[] {
  const out: Located[] = [];
  for (const d of dashboards) {
    const title = d.title ?? d.uid ?? '';
    for (const v of (d.templating.list ?? []) as VariableJson[]) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      if (v.type !== 'query' || !q) continue;
      out.push({ dashboard: title, panel: `variable $${v.name}`, rawExpr: labelValuesAsPromQL(q) ?? q, instant: true, datasource: v.datasource?.type });
    }
    for (const a of (d.annotations.list ?? []) as AnnotationJson[]) {
      const q = a.target?.expr ?? a.expr;
      if (a.builtIn || !q) continue;
      out.push({ dashboard: title, panel: `annotation ${a.name}`, rawExpr: q, instant: false, datasource: a.datasource?.type });
    }
    for (const { panel } of panelsOf(d)) {
      for (const t of panel.targets ?? []) {
        out.push({
          dashboard: title,
          panel: panel.title ?? '',
          rawExpr: t.expr ?? '',
          instant: t.instant === true || t.queryType === 'instant',
          datasource: t.datasource?.type ?? panel.datasource?.type,
        });
      }
    }
  }
  return out;
}

/**
 * Every PromQL query of every dashboard (panels, and variables as the PromQL equivalent of their
 * `label_values`), with Grafana's variables replaced by `values` so Prometheus can run them.
 */
export function allDashboardQueries(values: Readonly<Record<string, string>> = DEFAULT_VARIABLE_VALUES, dashboards = buildDashboards()): DashboardQuery[] {
  return located(dashboards)
    .filter((q) => q.datasource === 'prometheus')
    .map(({ datasource: _, ...q }) => ({ ...q, expr: interpolate(q.rawExpr, values) }));
}

/** Every LogQL query (panels and annotations), variables replaced as in `allDashboardQueries`. */
export function allLogQueries(values: Readonly<Record<string, string>> = DEFAULT_VARIABLE_VALUES, dashboards = buildDashboards()): DashboardQuery[] {
  return located(dashboards)
    .filter((q) => q.datasource === 'loki')
    .map(({ datasource: _, ...q }) => ({ ...q, expr: interpolate(q.rawExpr, { principal: '.*', audit_model: '.*', decision: '.*', ...values }) }));
}
