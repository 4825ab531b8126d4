import assert from 'node:assert/strict';
import { readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { DATASOURCES, LOKI, PROMETHEUS, PROMETHEUS_UID, TEMPO, AUDIT_LOGS, VIGIL_LOGS } from '../../grafana/src/datasources.js';
import { DATASOURCES_FILE, GRAFANA_DIR, README, buildDashboards, dashboardFiles, panelsOf, readmeWithPanelTables, unitOf, type PanelJson } from '../../grafana/src/dashboards.js';
import { interpolate, metricNamesIn } from '../../grafana/src/promql.js';
import { allDashboardQueries, allLogQueries, labelValuesAsPromQL } from '../../grafana/src/queries.js';
import { adversarialDigit } from '../helpers/adversarial.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';
import { EXPORTED_SERIES, SERIES_WHEN_CONFIGURED } from '../../gateway/src/telemetry/metrics.js';

const dashboards = buildDashboards();

describe('the generated files', () => {
  test('grafana/dashboards/*.json are exactly what grafana/src generates (run `npm run dashboards`)', async () => {
    const files = dashboardFiles(dashboards);
    for (const f of files) assert.equal(await readFile(f.path, 'utf8').catch(() => '(missing)'), f.content, `${f.path} is out of date`);
    const committed = (await readdir(join(GRAFANA_DIR, 'dashboards'))).filter((n) => n.endsWith('.json')).sort();
    assert.deepEqual(committed, files.map((f) => f.path.slice(f.path.lastIndexOf('/') + 1)).sort(), 'a dashboard file no generator writes');
  });

  test('the panel tables in grafana/README.md are what grafana/src generates', async () => {
    const readme = await readFile(README, 'utf8');
    assert.equal(readme, readmeWithPanelTables(readme, dashboards), 'grafana/README.md is out of date (run `npm run dashboards`)');
  });

  test('each dashboard has its stable uid, a vigil title and tag, and unique panel ids and titles', () => {
    assert.deepEqual(
      dashboards.map((d) => d.uid),
      ['vigil-overview', 'vigil-security', 'vigil-serving', 'vigil-audit'],
    );
    for (const d of dashboards) {
      assert.match(d.title ?? '', /^vigil \/ /);
      assert.deepEqual(d.tags, ['vigil']);
      const all = (d.panels ?? []) as PanelJson[];
      const ids = [...all, ...all.flatMap((p) => p.panels ?? [])].map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${d.uid}: panel ids are unique`);
      assert.ok(ids.every((id) => Number.isInteger(id) && id! > 0), `${d.uid}: every panel has an id`);
      const titles = panelsOf(d).map((p) => p.panel.title);
      assert.equal(new Set(titles).size, titles.length, `${d.uid}: panel titles are unique`);
    }
  });

  test('panels fit the 24-column grid and do not overlap', () => {
    for (const d of dashboards) {
      const boxes = ((d.panels ?? []) as (PanelJson & { gridPos?: { x: number; y: number; w: number; h: number } })[]).map((p) => ({ title: p.title, ...p.gridPos! }));
      for (const [i, a] of boxes.entries()) {
        assert.ok(a.x >= 0 && a.w > 0 && a.h > 0 && a.x + a.w <= 24, `${d.uid} / ${a.title}: ${JSON.stringify(a)}`);
        for (const b of boxes.slice(i + 1)) {
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          assert.ok(!overlap, `${d.uid}: "${a.title}" overlaps "${b.title}"`);
        }
      }
    }
  });
});

describe('panels and data sources', () => {
  let provisioned: { name: string; uid: string; type: string; jsonData?: Record<string, any> }[];
  before(async () => {
    provisioned = (parse(await readFile(DATASOURCES_FILE, 'utf8')) as { datasources: typeof provisioned }).datasources;
  });
  // `${DS_PROMETHEUS}` is the dashboard's data-source variable: it must default to a provisioned Prometheus.
  const resolve = (uid: string | undefined, d?: { templating: { list?: { name: string; type: string; query?: unknown; current?: { value?: unknown } }[] } }) => {
    const m = /^\$\{(\w+)\}$/.exec(uid ?? '');
    if (!m || !d) return uid;
    const v = d.templating.list?.find((x) => x.name === m[1]);
    assert.ok(v && v.type === 'datasource', `${uid} is a data-source variable of the dashboard`);
    return String(v.current?.value);
  };
  const provisionedRef = (ref: { uid?: string; type?: string } | undefined, where: string, d?: Parameters<typeof resolve>[1]) => {
    const ds = provisioned.find((p) => p.uid === resolve(ref?.uid, d));
    assert.ok(ds, `${where}: data source uid ${JSON.stringify(ref?.uid)} is not provisioned in ${DATASOURCES_FILE}`);
    assert.equal(ds.type, ref?.type, `${where}: data source ${ref?.uid} is a ${ds.type}, not a ${ref?.type}`);
  };

  test('provisioning defines Prometheus, Loki and Tempo with the fixed uids, linked to each other', () => {
    for (const ds of DATASOURCES) assert.equal(provisioned.find((p) => p.uid === ds.uid)?.type, ds.type, `${ds.type} ${ds.uid}`);
    assert.ok(provisioned.find((p) => p.uid === PROMETHEUS_UID)!.jsonData?.timeInterval, 'Prometheus sets timeInterval, from which $__rate_interval is derived');
    const loki = provisioned.find((p) => p.uid === LOKI.uid)!;
    assert.ok(loki.jsonData?.derivedFields?.some((f: { datasourceUid: string }) => f.datasourceUid === TEMPO.uid), 'an audit record links to its trace in Tempo');
    assert.equal(provisioned.find((p) => p.uid === TEMPO.uid)!.jsonData?.tracesToLogsV2?.datasourceUid, LOKI.uid, 'a trace links to its audit record');
  });

  test("every variable a query or another variable uses is defined in that query's dashboard", () => {
    for (const d of dashboards) {
      const defined = new Set((d.templating.list ?? []).map((v) => v.name));
      const exprs = [
        ...panelsOf(d).flatMap(({ panel }) => (panel.targets ?? []).map((t) => ({ where: panel.title, expr: t.expr ?? '' }))),
        ...(d.templating.list ?? []).map((v) => ({ where: `variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : '' })),
      ];
      for (const { where, expr } of exprs) {
        for (const m of expr.matchAll(/\$\{?(\w+)/g)) {
          // $__rate_interval and friends are Grafana's own; ${1} is a regex group in label_replace.
          if (m[1].startsWith('__') || /^\d+$/.test(m[1])) continue;
          assert.ok(defined.has(m[1]), `${d.title} / ${where}: $${m[1]} is not a variable of this dashboard`);
        }
      }
    }
  });

  test('every panel has a title, a description, a unit, a provisioned data source and a query of its kind', () => {
    let panels = 0;
    for (const d of dashboards) {
      for (const { panel } of panelsOf(d)) {
        panels++;
        const where = `${d.title} / ${panel.title ?? '(untitled)'}`;
        assert.ok(panel.title?.trim(), `${d.title}: a panel has no title`);
        assert.ok((panel.description ?? '').length > 20, `${where}: no description saying what it answers`);
        provisionedRef(panel.datasource, where, d);
        if (panel.type !== 'logs') assert.ok(unitOf(panel), `${where}: no unit`);
        assert.ok(panel.targets?.length, `${where}: no query`);
        for (const t of panel.targets!) {
          assert.deepEqual(t.datasource, panel.datasource, `${where}: the query and the panel name the same data source`);
          assert.ok(t.expr?.trim(), `${where}: an empty query`);
          if (panel.datasource?.type === 'prometheus') assert.ok(metricNamesIn(t.expr!).length > 0, `${where}: ${t.expr} reads no metric`);
          if (panel.datasource?.type === 'loki') assert.ok(t.expr!.includes(AUDIT_LOGS) || t.expr!.includes(VIGIL_LOGS), `${where}: ${t.expr} reads neither ${AUDIT_LOGS} nor ${VIGIL_LOGS}`);
        }
      }
    }
    assert.ok(panels >= 40, `${panels} panels`);
  });

  test('variables and annotations use provisioned data sources', () => {
    for (const d of dashboards) {
      for (const v of d.templating.list ?? []) if (v.datasource) provisionedRef(v.datasource, `${d.title} variable ${v.name}`, d);
      for (const a of d.annotations.list ?? []) if (!a.builtIn) provisionedRef(a.datasource, `${d.title} annotation ${a.name}`);
    }
  });

  test('the dashboards cover what the issue asks for', () => {
    const titles = (uid: string) => panelsOf(dashboards.find((d) => d.uid === uid)!).map((p) => p.panel);
    const has = (uid: string, re: RegExp, unit?: string) => {
      const p = titles(uid).find((x) => re.test(x.title ?? ''));
      assert.ok(p, `${uid} has a panel matching ${re}`);
      if (unit) assert.equal(unitOf(p), unit, `${p.title} is in ${unit}`);
    };
    has('vigil-overview', /Request rate by route and status class/, 'reqps');
    has('vigil-overview', /Error ratio/, 'percentunit');
    has('vigil-overview', /p50 \/ p95 \/ p99/, 's');
    has('vigil-overview', /Inference failure ratio/, 'percentunit');
    has('vigil-overview', /round trip vs ONNX Runtime compute/, 's');
    for (const re of [/Authentication failures by code/, /Policy denials by rule/, /enforced vs shadow/, /Rate-limit rejections by quota/, /Rejections by stage and code/, /Audit write errors/, /Failed policy reloads/]) has('vigil-security', re);
    for (const re of [/Pool up/, /Workers by state/, /restarts/, /in flight/, /Batch size distribution/, /Items inferred/, /compute p50 \/ p95/]) has('vigil-serving', re);
    assert.ok(titles('vigil-audit').some((p) => p.type === 'logs' && p.targets!.some((t) => t.expr!.startsWith(AUDIT_LOGS))), 'audit records as logs');
    for (const re of [/Anomalous findings by detector and action/, /Share of screened requests found anomalous/, /Extraction signals/, /Quarantined principals/]) has('vigil-security', re);
    has('vigil-security', /Share of screened requests/, 'percentunit');
    has('vigil-security', /Anomaly alerts fired and resolved, by rule/);
    has('vigil-security', /Alertmanager delivery failures/);
  });
});

describe('queries for another test to run', () => {
  test('metricNamesIn finds metric names, not functions, labels, keywords or values', () => {
    const cases: [string, string[]][] = [
      ['up', ['up']],
      ['sum by (le, model) (rate(x_bucket{job=~"$job", model="a b"}[$__rate_interval]))', ['x_bucket']],
      ['histogram_quantile(0.95, sum(rate(a_bucket[5m])) by (le))', ['a_bucket']],
      ['(sum(rate(a{code=~"5.."}[1m])) or vector(0)) / sum(rate(a[1m]))', ['a']],
      ['label_replace(rate(b[1m]), "status_class", "${1}xx", "code", "([1-5])..")', ['b']],
      ['a / ignoring(x) group_left(y) b offset 5m', ['a', 'b']],
      ['sum(c) > 0 and on (model) d unless e', ['c', 'd', 'e']],
      ['count by (service_version) (target_info{service_name="vigil"}) > bool 1e3', ['target_info']],
    ];
    for (const [expr, names] of cases) assert.deepEqual(metricNamesIn(expr), names, expr);
  });

  test('allDashboardQueries: every PromQL query, with no Grafana variable left', () => {
    const queries = allDashboardQueries();
    const panelQueries = dashboards.flatMap((d) => panelsOf(d).flatMap((p) => (p.panel.datasource?.type === 'prometheus' ? p.panel.targets ?? [] : [])));
    const variables = dashboards.flatMap((d) => (d.templating.list ?? []).filter((v) => v.type === 'query'));
    assert.equal(queries.length, panelQueries.length + variables.length);
    for (const q of queries) {
      assert.ok(q.dashboard && q.panel && q.expr && q.rawExpr, JSON.stringify(q));
      assert.doesNotMatch(q.expr.replaceAll('${1}', ''), /\$/, `${q.panel}: ${q.expr} still holds a variable`);
    }
    assert.equal(labelValuesAsPromQL('label_values(vigil_pool_up{job=~"$job"}, model)'), 'group by (model) (vigil_pool_up{job=~"$job"})');
    assert.equal(interpolate('rate(a{job=~"$job"}[$__rate_interval]) ${job}', { job: 'vigil', __rate_interval: '2m' }), 'rate(a{job=~"vigil"}[2m]) vigil');
    for (const q of allLogQueries()) assert.doesNotMatch(q.expr, /\$/, `${q.panel}: ${q.expr} still holds a variable`);
  });
});

// Every metric a dashboard reads must be one vigil really exports: start a real vigil, make it
// produce every series (counters appear only once they have counted), and read GET /metrics.
const POLICY = `
version: 1
roles:
  analyst: the demo models
  limited: one request a minute
  admin: everything
grants:
  - id: models
    roles: [analyst, limited]
    actions: [infer, metadata]
    models: [mnist, digits]
  - id: admins
    roles: [admin]
    actions: ["*"]
    models: ["*"]
limits:
  mode: enforce
  roles:
    analyst: { requests_per_minute: 100000, items_per_minute: 1000000, concurrency: 64 }
    limited: { requests_per_minute: 1, items_per_minute: 1000, concurrency: 4 }
    admin: { requests_per_minute: 100000, items_per_minute: 1000000, concurrency: 64 }
`;

describe('every metric a dashboard query reads is exported by a real vigil', () => {
  let vigil: TestVigil;
  let policyFile: string;
  let exported: Set<string>;

  const scrape = async () => (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
  const namesIn = (text: string) =>
    new Set(
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.slice(0, l.search(/[{ ]/))),
    );

  before(async () => {
    policyFile = await writePolicy(POLICY);
    vigil = await startTestVigil({ policy: { file: policyFile } });
    const analyst = await vigil.auth(['analyst']);
    const limited = await vigil.auth(['limited'], 'rita');
    for (const model of ['digits', 'mnist']) assert.equal((await postJson(vigil.port, `/v2/models/${model}/infer`, inferRequest(model, [0, 1]), analyst)).status, 200);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/mnist', { headers: { authorization: 'Bearer x.y.z' } })).status, 401); // an auth failure
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]))).status, 401); // anonymous: a policy denial
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers: limited })).status, 200);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/digits', { headers: limited })).status, 429); // a rate-limit rejection
    const adversarial = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: adversarialDigit(0.3) }] };
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', adversarial, analyst)).status, 200); // detector findings (flagged)

    // A policy reload that takes and one that is rejected.
    await writeFile(policyFile, `${POLICY}\n# reloaded\n`);
    assert.equal((await vigil.policy.reload()).ok, true);
    await writeFile(policyFile, 'version: [not a policy');
    assert.equal((await vigil.policy.reload()).ok, false);

    // A pool worker killed: a restart.
    const served = vigil.registry.resolve('digits', undefined);
    assert.equal(served.status, 'serving');
    const pid = served.pool!.workers[0].pid!;
    process.kill(pid, 'SIGKILL');

    // The audit log's file removed underneath it: a write error (it then recovers in a new file).
    const auditDir = vigil.config.audit.dir;
    for (const f of await readdir(auditDir)) if (/^audit-.*\.jsonl$/.test(f)) await unlink(join(auditDir, f));

    const text = await waitFor(
      'the restart and the audit write error to be counted',
      async () => {
        const t = await scrape();
        return t.includes('vigil_pool_restarts_total{') && /^vigil_audit_write_errors_total/m.test(t) ? t : undefined;
      },
      15_000,
      100,
    );
    exported = namesIn(text);
  });

  after(async () => {
    await vigil?.stop();
    if (policyFile) await rm(dirname(policyFile), { recursive: true, force: true });
  });

  test('GET /metrics shows every series the dashboards are about', () => {
    for (const name of ['vigil_detector_findings_total', 'vigil_policy_reloads_total', 'vigil_ratelimit_rejections_total', 'vigil_policy_denials_total', 'vigil_auth_failures_total', 'vigil_pool_restarts_total', 'vigil_audit_write_errors_total']) {
      assert.ok(exported.has(name), `${name} was produced by the traffic (exported: ${[...exported].sort().join(' ')})`);
    }
  });

  test('every metric name in every PromQL query of every dashboard (panels and variables) is exported', (t) => {
    // Exact sample names: a histogram is only readable as <name>_bucket, _sum or _count.
    const used = new Set<string>();
    for (const q of allDashboardQueries()) {
      for (const name of metricNamesIn(q.rawExpr)) {
        used.add(name);
        // Shadow series exist only with a traffic.yaml shadow (test/gateway/traffic.test.ts); the declared list still names them.
        const ok = exported.has(name) || (SERIES_WHEN_CONFIGURED.includes(name) && EXPORTED_SERIES.includes(name));
        assert.ok(ok, `${q.dashboard} / ${q.panel}: ${name} is not a series vigil exports; it exports ${[...exported].sort().join(' ')}`);
      }
    }
    const strip = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    const unused = [...new Set([...exported].map(strip))].filter((n) => ![...used].some((u) => strip(u) === n)).sort();
    t.diagnostic(`exported but on no dashboard: ${unused.join(' ') || 'none'}`);
  });
});
