import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { auditDashboard } from './audit.js';
import { overviewDashboard } from './overview.js';
import { securityDashboard } from './security.js';
import { servingDashboard } from './serving.js';

/**
 * The dashboards, the files they are written to, and the panel tables of grafana/README.md: all
 * derived from the same built dashboards, so the JSON, the README and the tests cannot disagree.
 */

/** In the order the README lists them. */
export function buildDashboards(): dashboard.Dashboard[] {
  return [overviewDashboard(), securityDashboard(), servingDashboard(), auditDashboard()];
}

/** The repository root: the nearest directory above this module with a package.json (works from grafana/src and dist/grafana/src). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

export const GRAFANA_DIR = join(repoRoot(), 'grafana');
export const README = join(GRAFANA_DIR, 'README.md');
export const DATASOURCES_FILE = join(GRAFANA_DIR, 'provisioning', 'datasources', 'vigil.yaml');

/** `grafana/dashboards/<uid>.json` */
export function dashboardPath(d: dashboard.Dashboard): string {
  return join(GRAFANA_DIR, 'dashboards', `${d.uid}.json`);
}

export function renderDashboard(d: dashboard.Dashboard): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}

/** Every file the generator owns outright, with its content. */
export function dashboardFiles(dashboards = buildDashboards()): { path: string; content: string }[] {
  return dashboards.map((d) => ({ path: dashboardPath(d), content: renderDashboard(d) }));
}

/** A panel as the JSON holds it; only what the tables, queries and tests read. */
export interface PanelJson {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { refId?: string; expr?: string; datasource?: { type?: string; uid?: string }; instant?: boolean; range?: boolean; queryType?: string }[];
  fieldConfig?: { defaults?: { unit?: string } };
  options?: { yAxis?: { unit?: string } };
  panels?: PanelJson[];
}

/** Every panel that is not a row, with the title of the row it sits under. */
export function panelsOf(d: dashboard.Dashboard): { row: string | undefined; panel: PanelJson }[] {
  const out: { row: string | undefined; panel: PanelJson }[] = [];
  let row: string | undefined;
  for (const p of (d.panels ?? []) as PanelJson[]) {
    if (p.type === 'row') {
      row = p.title;
      for (const inner of p.panels ?? []) out.push({ row, panel: inner });
    } else out.push({ row, panel: p });
  }
  return out;
}

/** The rows of a dashboard, in order, including empty ones. */
export function rowsOf(d: dashboard.Dashboard): string[] {
  return ((d.panels ?? []) as PanelJson[]).filter((p) => p.type === 'row').map((p) => p.title ?? '');
}

/** The unit a panel shows its values in (a heatmap's is its y axis). */
export function unitOf(p: PanelJson): string | undefined {
  return p.fieldConfig?.defaults?.unit ?? p.options?.yAxis?.unit;
}

const BEGIN = '<!-- BEGIN GENERATED PANELS: `npm run dashboards` rewrites this section from grafana/src -->';
const END = '<!-- END GENERATED PANELS -->';

/** Markdown text: no HTML tags, no table-breaking pipes. */
function text(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

/** A code span in a table cell: GitHub needs `\|` for a pipe even inside one. */
function code(s: string): string {
  return `\`${s.replace(/\|/g, '\\|')}\``;
}

interface VariableJson {
  name: string;
  type: string;
  query?: string | { query?: string };
  description?: string;
}

/** The panel tables of grafana/README.md. */
export function panelTables(dashboards = buildDashboards()): string {
  const out: string[] = [];
  for (const d of dashboards) {
    out.push(`### ${d.title}`, '', `[\`dashboards/${d.uid}.json\`](dashboards/${d.uid}.json), uid \`${d.uid}\`. ${text(d.description ?? '')}`, '');
    const variables = (d.templating.list ?? []) as VariableJson[];
    if (variables.length) {
      out.push('Variables:', '');
      for (const v of variables) {
        const q = typeof v.query === 'string' ? v.query : v.query?.query;
        out.push(`- \`$${v.name}\` (${v.type}${q ? `: ${code(q)}` : ''})${v.description ? `: ${text(v.description)}` : ''}`);
      }
      out.push('');
    }
    const panels = panelsOf(d);
    for (const row of rowsOf(d)) {
      out.push(`#### ${text(row)}`, '');
      const inRow = panels.filter((p) => p.row === row);
      if (!inRow.length) {
        out.push('_No panels yet._', '');
        continue;
      }
      out.push('| panel | what it answers | unit | data source | query |', '|---|---|---|---|---|');
      for (const { panel } of inRow) {
        const queries = (panel.targets ?? []).map((t) => code(t.expr ?? '')).join('<br>');
        out.push(`| ${text(panel.title ?? '')} | ${text(panel.description ?? '')} | ${unitOf(panel) ? code(unitOf(panel)!) : ''} | ${panel.datasource?.type ?? ''} | ${queries} |`);
      }
      out.push('');
    }
  }
  return out.join('\n');
}

/** `readme` with its generated section replaced by the current panel tables. */
export function readmeWithPanelTables(readme: string, dashboards = buildDashboards()): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`grafana/README.md has no generated section (the lines\n${BEGIN}\n${END})`);
  return `${readme.slice(0, begin + BEGIN.length)}\n\n${panelTables(dashboards)}\n${readme.slice(end)}`;
}

export const GENERATED_SECTION_MARKERS = { begin: BEGIN, end: END } as const;
