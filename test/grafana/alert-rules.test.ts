import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { EXPORTED_SERIES } from '../../gateway/src/telemetry/metrics.js';
import { metricNamesIn } from '../../grafana/src/promql.js';

const RULES = 'grafana/alerts/vigil-rules.yml';
const RULE_TESTS = 'grafana/alerts/vigil-rules.test.yml';
const ALERTMANAGER = 'grafana/compose/alertmanager.yml';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: { severity: string };
  annotations?: { summary: string; description: string; runbook_url: string };
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
const recorded = new Set(rules.filter((r) => r.record).map((r) => r.record!));

function has(bin: string): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('promtool check rules passes on the shipped alert rules', (t) => {
  if (!has('promtool')) return t.skip('promtool is not installed (Debian: prometheus)');
  const out = execFileSync('promtool', ['check', 'rules', RULES]).toString();
  assert.match(out, /SUCCESS: \d+ rules found/);
});

test('every alert has a severity, a summary, a description and a runbook that exists; every expression uses only series vigil exports or rules record', () => {
  assert.ok(alerts.length >= 20);
  for (const r of alerts) {
    assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity ?? ''), r.alert);
    assert.ok((r.annotations?.summary.length ?? 0) > 10, `${r.alert}: summary`);
    assert.ok((r.annotations?.description.length ?? 0) > 20, `${r.alert}: description`);
    assert.equal(r.annotations?.runbook_url, `grafana/runbooks/${r.alert}.md`);
    assert.ok(existsSync(r.annotations!.runbook_url), `${r.alert}: ${r.annotations!.runbook_url} exists`);
    assert.match(readFileSync(r.annotations!.runbook_url, 'utf8'), new RegExp(`^# ${r.alert}\\n`), `${r.alert}: its runbook is about it`);
  }
  for (const r of rules) {
    const names = metricNamesIn(r.expr);
    // The watchdog reads nothing (it always fires); the target rule reads Prometheus's own `up`.
    if (r.alert === 'Watchdog') {
      assert.deepEqual(names, []);
      continue;
    }
    assert.ok(names.length > 0, `${r.alert ?? r.record} queries a metric`);
    for (const name of names) {
      const ok = EXPORTED_SERIES.includes(name) || recorded.has(name) || (r.alert === 'VigilTargetDown' && name === 'up');
      assert.ok(ok, `${r.alert ?? r.record}: ${name} is neither a series vigil exports nor one a rule records`);
    }
  }
});

test('every alert has a unit test where it fires and, on normal traffic, one where it does not; promtool test rules passes', (t) => {
  const doc = parse(readFileSync(RULE_TESTS, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const checks = doc.tests.flatMap((c) => c.alert_rule_test);
  for (const r of alerts) {
    assert.ok(checks.some((c) => c.alertname === r.alert && c.exp_alerts.length > 0), `${r.alert} has a case where it fires`);
    if (r.alert !== 'Watchdog') assert.ok(checks.some((c) => c.alertname === r.alert && c.exp_alerts.length === 0), `${r.alert} has a case where it does not`);
  }
  if (!has('promtool')) return t.skip('promtool is not installed (Debian: prometheus)');
  const out = execFileSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
  assert.match(out, /SUCCESS/);
});

test('the compose Alertmanager config is valid, and its inhibit rules name only alerts that exist', (t) => {
  const config = parse(readFileSync(ALERTMANAGER, 'utf8')) as { inhibit_rules: { source_matchers: string[]; target_matchers: string[] }[] };
  const names = new Set(alerts.map((a) => a.alert!));
  assert.ok(config.inhibit_rules.length >= 4);
  for (const rule of config.inhibit_rules) {
    for (const m of [...rule.source_matchers, ...rule.target_matchers]) {
      const [, op, value] = /^alertname\s*(=~|!=|=)\s*"?(.*?)"?$/.exec(m) ?? [];
      if (!op) continue;
      if (op === '=~') {
        const re = new RegExp(`^(?:${value})$`);
        assert.ok([...names].some((n) => re.test(n)), `${m} matches an alert`);
        for (const alt of value.split('|').filter((a) => /^[A-Za-z]+$/.test(a))) assert.ok(names.has(alt), `${alt} in ${m} is an alert`);
      } else assert.ok(names.has(value), `${value} is an alert`);
    }
  }
  if (!has('amtool')) return t.skip('amtool is not installed (Debian: prometheus-alertmanager)');
  assert.match(execFileSync('amtool', ['check-config', ALERTMANAGER], { encoding: 'utf8' }), /SUCCESS/);
});
