import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as loki from '@grafana/grafana-foundation-sdk/loki';
import { AUDIT_LOGS, LOKI, PROMETHEUS, PROMETHEUS_UID } from './datasources.js';

/**
 * What every vigil dashboard shares: tags, time range and refresh, links to the other vigil
 * dashboards, the template variables, annotations, and the final pass that numbers panels and
 * queries so the JSON is the same on every run.
 */

export const TAG = 'vigil';

const ALL = { text: ['All'], value: ['$__all'] };

/**
 * A multi-select Prometheus `label_values` variable, with "All" selected. `allValue` unset: "All"
 * is the list of values found; set (`.*`): a regex for anything.
 */
function promVariable(name: string, query: string, description: string, sort: dashboard.VariableSort, allValue?: string): dashboard.QueryVariableBuilder {
  const v = new dashboard.QueryVariableBuilder(name)
    .label(name)
    .description(description)
    .datasource(PROMETHEUS)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(sort)
    .multi(true)
    .includeAll(true);
  if (allValue !== undefined) v.allValue(allValue);
  return v.current(ALL);
}

/**
 * `job`: the Prometheus jobs whose targets are vigil (`target_info{service_name="vigil"}`). Its
 * "All" is the list of those jobs, not `.*`, so a Prometheus that also scrapes other services
 * exporting `http_server_request_duration_seconds` does not mix them in.
 */
export function jobVariable(): dashboard.QueryVariableBuilder {
  return promVariable('job', 'label_values(target_info{service_name="vigil"}, job)', 'Prometheus jobs that scrape a vigil admin port (target_info{service_name="vigil"})', dashboard.VariableSort.AlphabeticalAsc);
}

/** `DS_PROMETHEUS`: which Prometheus the dashboard reads; the provisioned one by default. */
function prometheusVariable(): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder('DS_PROMETHEUS')
    .label('Prometheus')
    .description('The Prometheus that scrapes vigil')
    .type('prometheus')
    .current({ text: PROMETHEUS_UID, value: PROMETHEUS_UID });
}

/**
 * `instance`: the vigil replicas (scrape targets) of the selected jobs, for telling replicas apart
 * and for looking at one. "All" is `.*`.
 */
export function instanceVariable(): dashboard.QueryVariableBuilder {
  const query = 'label_values(target_info{service_name="vigil", job=~"$job"}, instance)';
  return promVariable('instance', query, 'vigil replicas (scrape targets) of the selected jobs', dashboard.VariableSort.AlphabeticalAsc, '.*');
}

/**
 * `model` and `version`, from `vigil_pool_up`: it has a series for every served model version
 * from the moment its pool starts, so a model that has not been called yet (or whose pool is
 * down) can still be picked. "All" is `.*`.
 */
export function modelVariables(): dashboard.QueryVariableBuilder[] {
  const models = 'label_values(vigil_pool_up{job=~"$job", instance=~"$instance"}, model)';
  const versions = 'label_values(vigil_pool_up{job=~"$job", instance=~"$instance", model=~"$model"}, version)';
  return [
    promVariable('model', models, 'Served models (vigil_pool_up)', dashboard.VariableSort.NaturalAsc, '.*'),
    promVariable('version', versions, 'Served versions of the selected models', dashboard.VariableSort.NaturalAsc, '.*'),
  ];
}

/** Policy reloads from the audit log (type admin, event policy.reload), as marks on every time axis. */
export function policyReloadAnnotation(): dashboard.AnnotationQueryBuilder {
  return new dashboard.AnnotationQueryBuilder()
    .name('Policy reloads')
    .datasource(LOKI)
    .enable(true)
    .iconColor('orange')
    .target(new loki.DataqueryBuilder().datasource(LOKI).expr(`${AUDIT_LOGS} | json | __error__="" | type="admin" | event=~"policy[.]reload.*"`).refId('Anno'))
    .titleFormat('policy reload {{outcome}}')
    .tagKeys('event,outcome');
}

function builtInAnnotation(): dashboard.AnnotationQueryBuilder {
  return new dashboard.AnnotationQueryBuilder()
    .name('Annotations & Alerts')
    .datasource({ type: 'grafana', uid: '-- Grafana --' })
    .type('dashboard')
    .builtIn(1)
    .enable(true)
    .hide(true)
    .iconColor('rgba(0, 211, 255, 1)');
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  variables: cog.Builder<dashboard.VariableModel>[];
  annotations?: dashboard.AnnotationQueryBuilder[];
}

export function vigilDashboard(spec: DashboardSpec): dashboard.DashboardBuilder {
  const builder = new dashboard.DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([TAG])
    .editable()
    .timezone('browser')
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(new dashboard.DashboardLinkBuilder('vigil dashboards').type(dashboard.DashboardLinkType.Dashboards).tags([TAG]).asDropdown(false).includeVars(true).keepTime(true))
    .annotation(builtInAnnotation());
  for (const a of spec.annotations ?? []) builder.annotation(a);
  builder.withVariable(prometheusVariable());
  for (const v of spec.variables) builder.withVariable(v);
  return builder;
}

interface Target {
  refId?: string;
}
interface AnyPanel {
  id?: number;
  targets?: Target[];
  panels?: AnyPanel[];
}

/**
 * Builds the dashboard and numbers it: panels 1, 2, 3… in order (rows and the panels in a
 * collapsed row included), queries A, B, C… in each panel. Grafana would number them itself on
 * load, differently after every edit; fixed numbers keep panel links (`viewPanel=`) and the
 * generated JSON stable.
 */
export function finish(builder: dashboard.DashboardBuilder): dashboard.Dashboard {
  const built = builder.build();
  let id = 0;
  const number = (panels: AnyPanel[]) => {
    for (const p of panels) {
      p.id = ++id;
      p.targets?.forEach((t, i) => {
        t.refId = String.fromCharCode(65 + i);
      });
      if (p.panels) number(p.panels);
    }
  };
  number((built.panels ?? []) as AnyPanel[]);
  // The SDK files every annotation toggle and link under the controls menu; vigil's belong in plain sight.
  for (const a of built.annotations.list ?? []) delete a.placement;
  for (const l of built.links ?? []) delete l.placement;
  return built;
}
