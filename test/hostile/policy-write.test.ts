import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { policyDigest } from '../../policies/src/compile-policy.js';
import { PolicyStore } from '../../policies/src/policy-store.js';

// The policy a writer means: a deny and an API key after the grant. Its first chunk alone is a
// valid policy that has neither.
const head = `version: 1
roles:
  analyst: inference
grants:
  - id: analyst
    roles: [analyst]
    actions: [infer]
    models: ["*"]
`;
const tail = `denies:
  - id: no-fraud
    roles: [analyst]
    actions: [infer]
    models: [fraud]
`;

test('a policy written in place in two chunks 0.4 s apart is never in force half-written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-policy-write-'));
  const file = join(dir, 'policy.yaml');
  await writeFile(file, head + tail);
  const store = (await PolicyStore.open(file)).watch({ debounceMs: 30 });
  const seen: number[] = [];
  store.on('reloaded', (e) => seen.push(e.rules));
  try {
    // An edit that changes the grant's model list, written the way `cat > file` or a slow
    // config-management agent writes: truncate, first chunk, pause, second chunk.
    const edited = head.replace('["*"]', '["*", digits]');
    await writeFile(file, edited);
    let denyMissing = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 20));
      if (store.current().denies.length === 0) denyMissing++;
    }
    await appendFile(file, tail);
    // Bounded wait for the settled reload.
    for (let i = 0; i < 100 && seen.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (store.current().denies.length === 0) denyMissing++;
    }
    assert.equal(denyMissing, 0, 'the truncated policy (no denies) was in force');
    assert.deepEqual(seen, [2], 'exactly one reload, of the whole file (one grant + one deny)');
    assert.equal(store.current().denies.length, 1);
    assert.equal(store.current().digest, policyDigest(edited + tail), 'the policy in force is the whole edited file');
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an explicit reload() (SIGHUP, admin) applies at once, without the quiet period', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-policy-write-'));
  const file = join(dir, 'policy.yaml');
  await writeFile(file, head);
  const store = await PolicyStore.open(file);
  try {
    await writeFile(file, head + tail);
    const r = await store.reload();
    assert.ok(r.ok && r.changed);
    assert.equal(store.current().denies.length, 1);
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
