import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { evaluate, type PolicyPrincipal } from '../../policies/src/evaluate.js';
import { PolicyStore, type PolicyReloaded, type PolicyReloadFailed } from '../../policies/src/policy-store.js';
import { ConfigFileError } from '../../oip/src/yaml-with-schema.js';

const policyText = (models: string) => `version: 1
roles:
  analyst: inference
grants:
  - id: analyst
    roles: [analyst]
    actions: [infer]
    models: [${models}]
`;

const ann: PolicyPrincipal = { id: 'user:ann', method: 'jwt', roles: ['analyst'] };
const mayInfer = (store: PolicyStore, model: string) => evaluate(store.current(), { principal: ann, action: 'infer', model, source: '127.0.0.1', time: 0 }).allowed;

/** Resolves with the next `event`, or rejects after `ms`. */
function next<E extends 'reloaded' | 'reload-failed'>(store: PolicyStore, event: E, ms = 5000): Promise<E extends 'reloaded' ? PolicyReloaded : PolicyReloadFailed> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    store.once(event, ((e: never) => {
      clearTimeout(timer);
      resolve(e);
    }) as never);
  });
}

describe('policy store and hot reload', () => {
  let dir: string;
  let file: string;
  let store: PolicyStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-policy-'));
    file = join(dir, 'policy.yaml');
    await writeFile(file, policyText('mnist'));
    store = (await PolicyStore.open(file)).watch({ debounceMs: 30 });
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a valid change is applied and reported', async () => {
    assert.equal(mayInfer(store, 'digits'), false);
    const before = store.current();
    const reloaded = next(store, 'reloaded');
    await writeFile(file, policyText('mnist, digits'));
    const e = await reloaded;
    assert.equal(e.file, file);
    assert.equal(e.rules, 1);
    assert.equal(e.previousDigest, before.digest);
    assert.equal(e.digest, store.current().digest);
    assert.notEqual(store.current(), before);
    assert.equal(mayInfer(store, 'digits'), true);
  });

  test('an invalid change changes nothing and reports every problem with its line', async () => {
    const before = store.current();
    const failed = next(store, 'reload-failed');
    let reloaded = false;
    store.on('reloaded', () => (reloaded = true));
    const bad = policyText('mnist, digits').replace('roles: [analyst]', 'roles: [analyts]').replace('actions: [infer]', 'actions: [infer, predict]');
    await writeFile(file, bad);
    const e = await failed;
    assert.equal(e.file, file);
    assert.equal(e.problems.length, 2, e.problems.join('\n'));
    const line = bad.split('\n').findIndex((l) => l.includes('[analyts]')) + 1;
    assert.ok(e.problems.some((p) => p.startsWith(`${file}:${line}:`) && p.includes('grants.0.roles.0: unknown role "analyts"')), e.problems.join('\n'));
    assert.equal(e.keptDigest, before.digest);
    assert.equal(store.current(), before);
    assert.equal(mayInfer(store, 'mnist'), true);
    assert.equal(mayInfer(store, 'digits'), false);
    assert.equal(reloaded, false);
  });

  test('an empty file is invalid, never an allow-all or empty policy', async () => {
    const before = store.current();
    const failed = next(store, 'reload-failed');
    await writeFile(file, '');
    await failed;
    assert.equal(store.current(), before);
  });

  test('a deleted file keeps the last good policy; recreating it applies the new one', async () => {
    const before = store.current();
    const failed = next(store, 'reload-failed');
    await unlink(file);
    const e = await failed;
    assert.match(e.problems[0], /cannot read: ENOENT/);
    assert.equal(store.current(), before);
    assert.equal(mayInfer(store, 'mnist'), true);

    const reloaded = next(store, 'reloaded');
    await writeFile(file, policyText('digits'));
    await reloaded;
    assert.equal(mayInfer(store, 'digits'), true);
    assert.equal(mayInfer(store, 'mnist'), false);
  });

  test('an editor that writes a new file and renames it over the old one is seen', async () => {
    const reloaded = next(store, 'reloaded');
    const tmp = join(dir, '.policy.yaml.swp');
    await writeFile(tmp, policyText('fraud-*'));
    await rename(tmp, file);
    await reloaded;
    assert.equal(mayInfer(store, 'fraud-cards'), true);
    // and the watch survives the replacement
    const again = next(store, 'reloaded');
    await writeFile(file, policyText('iris'));
    await again;
    assert.equal(mayInfer(store, 'iris'), true);
  });

  test('after a failed reload, fixing the file applies it', async () => {
    const failed = next(store, 'reload-failed');
    await writeFile(file, 'version: 1\nroles: [oops]\n');
    await failed;
    const reloaded = next(store, 'reloaded');
    await writeFile(file, policyText('digits'));
    await reloaded;
    assert.equal(mayInfer(store, 'digits'), true);
  });

  test('touching the file without changing it reloads nothing', async () => {
    const before = store.current();
    let events = 0;
    store.on('reloaded', () => events++).on('reload-failed', () => events++);
    await writeFile(file, policyText('mnist'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(events, 0);
    assert.equal(store.current(), before);
    const r = await store.reload();
    assert.deepEqual([r.ok, r.ok && r.changed], [true, false]);
  });

  test('reload() applies a change directly and says so (for SIGHUP or an admin endpoint)', async () => {
    const unwatched = await PolicyStore.open(file);
    await writeFile(file, policyText('digits'));
    const r = await unwatched.reload();
    assert.ok(r.ok && r.changed);
    assert.equal(r.policy, unwatched.current());
    assert.equal(mayInfer(unwatched, 'digits'), true);
    await writeFile(file, 'version: 1\n');
    const bad = await unwatched.reload();
    assert.ok(!bad.ok && bad.problems.length > 0);
    assert.equal(mayInfer(unwatched, 'digits'), true);
  });

  test('after close(), changes are no longer applied', async () => {
    const before = store.current();
    store.close();
    let events = 0;
    store.on('reloaded', () => events++).on('reload-failed', () => events++);
    await writeFile(file, policyText('digits'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(events, 0);
    assert.equal(store.current(), before);
  });

  test('open() refuses an invalid file with every problem', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'version: 1\nroles: { a: b }\ngrants:\n  - id: g\n    roles: [c]\n    actions: [fly]\n');
    await assert.rejects(PolicyStore.open(bad), (err: unknown) => err instanceof ConfigFileError && err.problems.length === 2);
  });
});
