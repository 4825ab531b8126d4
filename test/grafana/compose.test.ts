import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../gateway/src/config/load-config.js';

const DIR = 'grafana/compose';

test('the compose file names every service the dashboards need, and every file it mounts exists', () => {
  const compose = parse(readFileSync(join(DIR, 'compose.yaml'), 'utf8')) as { services: Record<string, { volumes?: string[]; build?: string }> };
  assert.deepEqual(Object.keys(compose.services).sort(), ['alertmanager', 'grafana', 'loki', 'prometheus', 'promtail', 'tempo', 'vigil']);
  for (const [name, service] of Object.entries(compose.services)) {
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0];
      if (!source.startsWith('.')) continue; // a named volume
      assert.ok(existsSync(resolve(DIR, source)), `${name} mounts ${source}, which does not exist`);
    }
    if (service.build) assert.ok(existsSync(resolve(DIR, service.build, 'Dockerfile')), `${name} builds from a Dockerfile`);
  }
});

test("the compose setup's vigil config is valid, and Prometheus there scrapes vigil's admin port with the shipped rules", async () => {
  const { config } = await loadConfig(join(DIR, 'vigil.yaml'), {});
  assert.equal(config.admin.host, '0.0.0.0');
  const prometheus = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
  assert.deepEqual(prometheus.scrape_configs[0].static_configs[0].targets, [`vigil:${config.admin.port}`]);
  assert.deepEqual(prometheus.rule_files, ['/etc/prometheus/rules/vigil-rules.yml']);
});

test('in the compose setup vigil sends its alerts to the Alertmanager and its traces to Tempo, as those services listen', async () => {
  const { config } = await loadConfig(join(DIR, 'vigil.yaml'), {});
  const compose = parse(readFileSync(join(DIR, 'compose.yaml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string>; ports?: string[] }> };
  assert.equal(config.alerts.alertmanager_url, 'http://alertmanager:9093');
  assert.ok(compose.services.alertmanager, 'an alertmanager service');
  assert.equal(compose.services.vigil.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://tempo:4318');
  const tempo = parse(readFileSync(join(DIR, 'tempo.yaml'), 'utf8')) as { distributor: { receivers: { otlp: { protocols: { http?: { endpoint?: string } | null } } } } };
  assert.ok('http' in tempo.distributor.receivers.otlp.protocols, 'Tempo takes OTLP over HTTP');
});

test("promtail reads the audit log files (never checkpoints.jsonl) at each record's own time, and vigil's own log", async () => {
  const { logFileName } = await import('../../gateway/src/audit/chain.js');
  const promtail = parse(readFileSync(join(DIR, 'promtail.yaml'), 'utf8')) as { scrape_configs: { job_name: string; static_configs?: { labels: Record<string, string> }[]; docker_sd_configs?: unknown[]; pipeline_stages: Record<string, { source?: string; format?: string }>[] }[] };
  const audit = promtail.scrape_configs.find((s) => s.job_name === 'vigil-audit')!;
  const labels = audit.static_configs![0].labels;
  const glob = new RegExp(`^${labels.__path__.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
  const { config } = await loadConfig(join(DIR, 'vigil.yaml'), {});
  assert.ok(glob.test(join(config.audit.dir, logFileName(1, new Date()))), 'a log file is read');
  assert.ok(!glob.test(join(config.audit.dir, 'checkpoints.jsonl')), 'checkpoints are not');
  const stamp = audit.pipeline_stages.find((s) => s.timestamp)?.timestamp;
  assert.deepEqual(stamp, { source: 'time', format: 'RFC3339Nano' });
  const own = promtail.scrape_configs.find((s) => s.job_name === 'vigil')!;
  assert.ok(own.docker_sd_configs, "vigil's own log comes from its container");
  assert.deepEqual(own.pipeline_stages.find((s) => s.timestamp)?.timestamp, { source: 'time', format: 'UnixMs' });
});
