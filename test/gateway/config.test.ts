import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../gateway/src/config/load-config.js';
import { ConfigFileError } from '../../oip/src/yaml-with-schema.js';
import { runVigil as vigilCli } from '../helpers/run-node.js';

describe('configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the bundled vigil.yaml is valid and gives the documented ports', async () => {
    const { config } = await loadConfig('vigil.yaml', {});
    assert.equal(config.server.port, 8080);
    assert.equal(config.admin.port, 8081);
    assert.equal(config.models.repository, join(process.cwd(), 'models'));
  });

  test('every problem is reported with file, line, path and reason', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, ['server:', '  port: eighty', '  max_body_bytes: 10', 'admin:', '  prot: 1', 'pools:', '  restart:', '    max_restarts: -1', ''].join('\n'));
    await assert.rejects(loadConfig(file, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigFileError);
      assert.equal(err.problems.length, 4);
      const text = err.problems.join('\n');
      assert.match(text, new RegExp(`${file}:2:\\d+ server\\.port: `));
      assert.match(text, new RegExp(`${file}:3:\\d+ server\\.max_body_bytes: `));
      assert.match(text, new RegExp(`${file}:\\d+:\\d+ admin: .*prot`));
      assert.match(text, new RegExp(`${file}:8:\\d+ pools\\.restart\\.max_restarts: `));
      return true;
    });
  });

  test('YAML syntax errors and duplicate keys name their line', async () => {
    const file = join(dir, 'dup.yaml');
    await writeFile(file, 'server:\n  port: 1\n  port: 2\n');
    await assert.rejects(loadConfig(file, {}), /dup\.yaml:3:\d+ /);
  });

  test('PORT, ADMIN_PORT and path variables override the file; bad values are refused', async () => {
    const { config } = await loadConfig('vigil.yaml', { PORT: '9999', ADMIN_PORT: '9998', VIGIL_MODEL_REPOSITORY: '/srv/models' });
    assert.equal(config.server.port, 9999);
    assert.equal(config.admin.port, 9998);
    assert.equal(config.models.repository, '/srv/models');
    await assert.rejects(loadConfig('vigil.yaml', { PORT: 'http' }), /PORT="http": must be a port number/);
    await assert.rejects(loadConfig('vigil.yaml', { PORT: '70000' }), /server\.port \(from the environment\)/);
    assert.equal((await loadConfig('vigil.yaml', { VIGIL_POOLS_ISOLATION: 'process' })).config.pools.isolation, 'process');
    await assert.rejects(loadConfig('vigil.yaml', { VIGIL_POOLS_ISOLATION: 'none' }), /pools\.isolation \(from the environment\)/);
  });

  test('`vigil config check` exits 0 on a good file and 1 with every problem on a bad one', async () => {
    const good = await vigilCli(['config', 'check', 'vigil.yaml']);
    assert.equal(good.code, 0);
    assert.match(good.stdout, /^ok: /);
    const file = join(dir, 'bad2.yaml');
    await writeFile(file, 'server:\n  port: -1\n');
    const bad = await vigilCli(['config', 'check', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad2\.yaml:2:\d+ server\.port: /);
  });

  test('`vigil models list` shows each version, its signature and status', async () => {
    const out = await vigilCli(['models', 'list', '--json']);
    assert.equal(out.code, 0);
    const listed = JSON.parse(out.stdout) as { models: { model: string; version: string; status: string; inputs: string; accuracy: number }[] };
    assert.deepEqual(listed.models.map((m) => `${m.model}/${m.version}:${m.status}`), ['digits/1:ok', 'mnist/1:ok']);
    assert.equal(listed.models[1].inputs, 'input:FP32[-1,784]');
    assert.ok(listed.models[1].accuracy >= 0.95);
    const table = await vigilCli(['models', 'list']);
    assert.match(table.stdout, /MODEL\s+VERSION\s+STATUS/);
  });
});
