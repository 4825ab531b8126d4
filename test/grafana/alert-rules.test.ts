import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { EXPORTED_SERIES } from '../../gateway/src/telemetry/metrics.js';
import { metricNamesIn } from '../../grafana/src/promql.js';

const RULES = 'grafana/alerts/vigil-rules.yml';

function promtool(): string | null {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return 'promtool';
  } catch {
    return null;
  }
}

test('promtool check rules passes on the shipped alert rules', (t) => {
  const bin = promtool();
  if (!bin) return t.skip('promtool is not installed (Debian: prometheus)');
  const out = execFileSync(bin, ['check', 'rules', RULES]).toString();
  assert.match(out, /SUCCESS: \d+ rules found/);
});

test('every rule has a severity and a summary, and uses only series vigil exports', () => {
  const doc = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string; labels: { severity: string }; annotations: { summary: string } }[] }[] };
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 8);
  for (const r of rules) {
    assert.ok(['critical', 'warning', 'info'].includes(r.labels.severity), r.alert);
    assert.ok(r.annotations.summary.length > 10, r.alert);
    const names = metricNamesIn(r.expr);
    // The watchdog reads nothing (it always fires); the target rule reads Prometheus's own `up`.
    if (r.alert === 'Watchdog') {
      assert.deepEqual(names, []);
      continue;
    }
    assert.ok(names.length > 0, `${r.alert} queries a vigil metric`);
    for (const name of names) assert.ok(EXPORTED_SERIES.includes(name) || (r.alert === 'VigilTargetDown' && name === 'up'), `${r.alert}: ${name} is not a series vigil exports`);
  }
});
