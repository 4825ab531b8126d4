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
