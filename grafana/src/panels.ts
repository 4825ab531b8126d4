import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as logs from '@grafana/grafana-foundation-sdk/logs';
import * as loki from '@grafana/grafana-foundation-sdk/loki';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { LOKI, PROMETHEUS, type DataSourceRef } from './datasources.js';

/**
 * The panel kinds vigil's dashboards are made of, on top of the Grafana Foundation SDK: each
 * takes what a reader of the dashboard needs (a title, a description saying what the panel
 * answers, a unit, its queries) and sets the rest the same way everywhere (legend, tooltip,
 * data source on the panel and on every query).
 */

/** Grafana unit ids used here (Grafana's "Standard options > Unit"). */
export const UNIT = {
  requestsPerSecond: 'reqps',
  seconds: 's',
  ratio: 'percentunit',
  count: 'short',
  itemsPerSecond: 'suffix:items/s',
  bytes: 'bytes',
  cores: 'suffix: cores',
  logLines: 'short',
} as const;

export interface PromQuery {
  expr: string;
  /** Grafana legend template, e.g. `{{model}}/{{version}}`. */
  legend?: string;
  /** Evaluate once at the end of the range (stat values, tables). */
  instant?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
}

export interface LogQuery {
  expr: string;
  legend?: string;
  instant?: boolean;
}

interface Common {
  title: string;
  /** What question the panel answers; shown as the panel's (i) tooltip and in grafana/README.md. */
  description: string;
  /** Grid width out of 24. */
  width: number;
  height?: number;
}

export type Threshold = { value: number | null; color: string };
type SeriesColors = Record<string, string>;

const PANEL_HEIGHT = 8;
const STAT_HEIGHT = 4;

function promTarget(q: PromQuery): prometheus.DataqueryBuilder {
  const t = new prometheus.DataqueryBuilder().datasource(ref(PROMETHEUS)).expr(q.expr).legendFormat(q.legend ?? '__auto');
  if (q.instant) t.instant();
  else t.range();
  if (q.format) t.format(q.format as prometheus.PromQueryFormat);
  return t;
}

function lokiTarget(q: LogQuery): loki.DataqueryBuilder {
  const t = new loki.DataqueryBuilder().datasource(ref(LOKI)).expr(q.expr);
  if (q.legend) t.legendFormat(q.legend);
  t.queryType(q.instant ? loki.LokiQueryType.Instant : loki.LokiQueryType.Range);
  return t;
}

function ref(ds: DataSourceRef): { type: string; uid: string } {
  return { type: ds.type, uid: ds.uid };
}

function thresholds(steps: Threshold[]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);
}

const legend = () => new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).calcs([]);
const tooltip = () => new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending);

function colorOverrides<T extends { overrideByName(name: string, properties: dashboard.DynamicConfigValue[]): T }>(panel: T, colors: SeriesColors | undefined): T {
  for (const [name, color] of Object.entries(colors ?? {})) panel.overrideByName(name, [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }]);
  return panel;
}

/** What every time-series panel shares: title, description, data source, unit, size, legend and tooltip. */
function timeseriesBase(p: Common & { unit: string }, source: DataSourceRef): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(ref(source))
    .unit(p.unit)
    .span(p.width)
    .height(p.height ?? PANEL_HEIGHT)
    .legend(legend())
    .tooltip(tooltip());
}

/** A line chart of one or more PromQL queries. */
export function timeseriesPanel(p: Common & { unit: string; queries: PromQuery[]; stack?: boolean; min?: number; max?: number; seriesColors?: SeriesColors }): timeseries.PanelBuilder {
  const panel = timeseriesBase(p, PROMETHEUS)
    .lineWidth(1)
    .fillOpacity(p.stack ? 30 : 10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .stacking(new common.StackingConfigBuilder().mode(p.stack ? common.StackingMode.Normal : common.StackingMode.None));
  if (p.min !== undefined) panel.min(p.min);
  if (p.max !== undefined) panel.max(p.max);
  for (const q of p.queries) panel.withTarget(promTarget(q));
  return colorOverrides(panel, p.seriesColors);
}

/**
 * One big number per series (the last value). `thresholds` colour it; `mappings` turn values
 * into words (1 → UP); `noValue` is what to show when the query has no series yet (a counter
 * that has never counted).
 */
export function statPanel(
  p: Common & { unit: string; queries: PromQuery[]; thresholds?: Threshold[]; mappings?: dashboard.ValueMapping[]; noValue?: string; showNames?: boolean; decimals?: number },
): stat.PanelBuilder {
  const panel = new stat.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(ref(PROMETHEUS))
    .unit(p.unit)
    .span(p.width)
    .height(p.height ?? STAT_HEIGHT)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(p.thresholds ? common.BigValueColorMode.Background : common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(p.showNames ? common.BigValueTextMode.ValueAndName : common.BigValueTextMode.Value)
    .thresholds(thresholds(p.thresholds ?? [{ value: null, color: 'text' }]));
  if (p.mappings) panel.mappings(p.mappings);
  if (p.noValue !== undefined) panel.noValue(p.noValue);
  if (p.decimals !== undefined) panel.decimals(p.decimals);
  for (const q of p.queries) panel.withTarget(promTarget({ instant: true, ...q }));
  return panel;
}

/** A histogram's buckets over time (`query` must be `sum by (le) (increase(…_bucket…))`). */
export function heatmapPanel(p: Common & { unit: string; query: PromQuery }): heatmap.PanelBuilder {
  return new heatmap.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(ref(PROMETHEUS))
    .span(p.width)
    .height(p.height ?? PANEL_HEIGHT)
    .calculate(false)
    .yAxis(new heatmap.YAxisConfigBuilder().unit(p.unit).axisPlacement(common.AxisPlacement.Left))
    .cellValues(new heatmap.CellValuesBuilder().unit('short'))
    .color(new heatmap.HeatmapColorOptionsBuilder().mode(heatmap.HeatmapColorMode.Scheme).scheme('Oranges').scale(heatmap.HeatmapColorScale.Exponential).exponent(0.5).steps(64).reverse(false).fill('dark-orange'))
    .rowsFrame(new heatmap.RowsHeatmapOptionsBuilder().layout(common.HeatmapCellLayout.Le))
    .showLegend()
    .withTarget(promTarget({ format: 'heatmap', legend: '{{le}}', ...p.query }));
}

/** A table of one instant query; `columns` renames (and orders) the label and value columns. */
export function tablePanel(p: Common & { unit: string; query: PromQuery; columns: Record<string, string>; sortBy: string }): table.PanelBuilder {
  return instantTable(p, ref(PROMETHEUS), p.unit).withTarget(promTarget({ instant: true, format: 'table', ...p.query }));
}

/** What Prometheus and Loki tables share: renamed, ordered columns, sorted descending. */
function instantTable(p: Common & { columns: Record<string, string>; sortBy: string }, datasource: ReturnType<typeof ref>, unit: string): table.PanelBuilder {
  const indexByName = Object.fromEntries(Object.values(p.columns).map((c, i) => [c, i]));
  return new table.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(datasource)
    .unit(unit)
    .span(p.width)
    .height(p.height ?? PANEL_HEIGHT)
    .withTransformation({ id: 'organize', options: { excludeByName: { Time: true }, renameByName: p.columns, indexByName } })
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(p.sortBy).desc(true)]);
}

/** A line chart of LogQL metric queries (counts of log lines or audit records). */
export function logCountPanel(p: Common & { unit: string; queries: LogQuery[]; stack?: boolean; seriesColors?: SeriesColors }): timeseries.PanelBuilder {
  const panel = timeseriesBase(p, LOKI)
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(60)
    .showPoints(common.VisibilityMode.Never)
    .stacking(new common.StackingConfigBuilder().mode(p.stack ? common.StackingMode.Normal : common.StackingMode.None));
  for (const q of p.queries) panel.withTarget(lokiTarget(q));
  return colorOverrides(panel, p.seriesColors);
}

/** One big number from an instant LogQL metric query. */
export function logStatPanel(p: Common & { unit: string; query: LogQuery; thresholds?: Threshold[]; noValue?: string }): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(ref(LOKI))
    .unit(p.unit)
    .span(p.width)
    .height(p.height ?? STAT_HEIGHT)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(p.thresholds ? common.BigValueColorMode.Background : common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.Value)
    .thresholds(thresholds(p.thresholds ?? [{ value: null, color: 'text' }]))
    .noValue(p.noValue ?? '0')
    .withTarget(lokiTarget({ instant: true, ...p.query }));
}

/** A table of one instant LogQL metric query. */
export function logTablePanel(p: Common & { query: LogQuery; columns: Record<string, string>; sortBy: string }): table.PanelBuilder {
  return instantTable(p, ref(LOKI), UNIT.count).withTarget(lokiTarget({ instant: true, ...p.query }));
}

/** Log lines (or audit records) themselves, newest first, each expandable into its fields. */
export function logsPanel(p: Common & { query: string }): logs.PanelBuilder {
  return new logs.PanelBuilder()
    .title(p.title)
    .description(p.description)
    .datasource(ref(LOKI))
    .span(p.width)
    .height(p.height ?? 10)
    .showTime(true)
    .showLabels(false)
    .showCommonLabels(false)
    .wrapLogMessage(true)
    .prettifyLogMessage(false)
    .enableLogDetails(true)
    .sortOrder(common.LogsSortOrder.Descending)
    .dedupStrategy(common.LogsDedupStrategy.None)
    .withTarget(lokiTarget({ expr: p.query }));
}

/**
 * A row heading. Expanded rows hold no panels of their own in Grafana's JSON (the panels that
 * follow belong to them), so panels are added to the dashboard after the row, never to the row.
 */
export function row(title: string, opts: { collapsed?: boolean } = {}): dashboard.RowBuilder {
  return new dashboard.RowBuilder(title).collapsed(opts.collapsed ?? false);
}

/** 1 → UP (green), 0 → DOWN (red). */
export const UP_DOWN: dashboard.ValueMapping[] = [
  {
    type: dashboard.MappingType.ValueToText,
    options: { '0': { text: 'DOWN', color: 'red', index: 0 }, '1': { text: 'UP', color: 'green', index: 1 } },
  },
];

/** Green at zero, red from one: for things that should never happen (failed reloads, audit errors). */
export const RED_FROM_ONE: Threshold[] = [
  { value: null, color: 'green' },
  { value: 1, color: 'red' },
];
