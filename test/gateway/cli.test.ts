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
