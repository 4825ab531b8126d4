import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runVigil } from '../helpers/run-node.js';

test('vigil --version and -V print the version in package.json', async () => {
  const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
  for (const flag of ['--version', '-V']) {
    const r = await runVigil([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), version);
  }
});

test('vigil pool serve without TLS files refuses to start, saying what it needs', async () => {
  const r = await runVigil(['pool', 'serve', '--model', 'digits', '--listen', '127.0.0.1:0']);
  assert.equal(r.code, 2);
  assert.match(r.stdout + r.stderr, /--tls-cert, --tls-key and --client-ca/);
});

test('the audit commands find their log from --config or VIGIL_CONFIG, and say which config named a missing one', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'vigil-cli-config-'));
  try {
    const config = join(dir, 'ops.yaml');
    await writeFile(config, `audit:\n  dir: ${join(dir, 'nowhere')}\n`);
    for (const [args, env] of [[['audit', 'query', '--config', config], {}], [['audit', 'verify'], { VIGIL_CONFIG: config }], [['audit', 'report', '--summary', 'code', '-c', config], {}]] as const) {
      const r = await runVigil([...args], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`no audit log at ${join(dir, 'nowhere')}, audit\\.dir in ${config}`));
    }
    await writeFile(config, `audit:\n  dir: ${dir}\n`);
    const found = await runVigil(['audit', 'query', '--json'], { VIGIL_CONFIG: config });
    assert.equal(found.code, 0, found.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
