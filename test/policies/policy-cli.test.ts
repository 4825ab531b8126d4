import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findApiKey } from '../../policies/src/api-keys.js';
import { parsePolicyText } from '../../policies/src/compile-policy.js';
import { evaluate } from '../../policies/src/evaluate.js';
import { BUNDLED_POLICY_FILE, loadPolicyFile } from '../../policies/src/policy-store.js';
import { runCommandFunction } from '../helpers/run-node.js';


function command(file: string, fn: string, arg: unknown[]) {
  return runCommandFunction(new URL(`../../gateway/src/commands/${file}.js`, import.meta.url).href, fn, arg);
}

describe('policy CLI commands', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-policy-cli-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('policy check: the bundled policy is ok, with a summary of what is in it', async () => {
    const policy = await loadPolicyFile(BUNDLED_POLICY_FILE);
    const r = await command('policy-check', 'policyCheckCommand', [undefined]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: /);
    for (const name of [...policy.roles, ...policy.grants.map((g) => g.id), ...policy.denies.map((d) => d.id), ...policy.apiKeys.keys()]) {
      assert.ok(r.stdout.includes(name), `${name} missing from the summary`);
    }
    const json = await command('policy-check', 'policyCheckCommand', [BUNDLED_POLICY_FILE, { json: true }]);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; grants: string[]; digest: string };
    assert.equal(parsed.ok, true);
    assert.deepEqual(parsed.grants, policy.grants.map((g) => g.id));
    assert.equal(parsed.digest, policy.digest);
  });

  test('policy check: an invalid file lists every problem with its line, exit 1', async () => {
    const file = join(dir, 'bad.yaml');
    const text = 'version: 1\nroles: { a: x }\ngrants:\n  - id: g\n    roles: [b]\n    actions: [fly]\n';
    await writeFile(file, text);
    const r = await command('policy-check', 'policyCheckCommand', [file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${file}:5:\\d+ grants\\.0\\.roles\\.0: unknown role "b"`));
    assert.match(r.stderr, new RegExp(`${file}:6:\\d+ grants\\.0\\.actions\\.0: unknown action "fly"`));
  });

  test('policy check: warns about what is valid but risky', async () => {
    const file = join(dir, 'risky.yaml');
    const old = `sha256:${'1'.repeat(64)}`;
    await writeFile(
      file,
      `version: 1\nmode: shadow\nanonymous: { actions: [health, infer] }\nroles: { a: x, idle: y }\ngrants:\n  - { id: all, roles: [a], actions: [infer] }\napi_keys:\n  - { id: old, owner: o, hash: "${old}", expires: "2020-01-01T00:00:00Z" }\nlimits: { on_store_failure: fail_open }\n`,
    );
    const r = await command('policy-check', 'policyCheckCommand', [file]);
    assert.equal(r.code, 0, r.stderr);
    for (const w of [/warning: mode is shadow/, /warning: .*fail_open/, /warning: anonymous callers may infer/, /warning: role idle is in no grant/, /warning: API key old expired/]) {
      assert.match(r.stdout, w);
    }
  });

  test('policy explain: prints the decision evaluate makes, the deciding rule and a trace; exit 0 allowed, 2 denied', async () => {
    const policy = await loadPolicyFile(BUNDLED_POLICY_FILE);
    const time = '2026-06-01T12:00:00Z';
    const asks = [
      { sub: 'alice', roles: 'analyst', action: 'infer', model: 'mnist', source: '10.1.2.3', time },
      { sub: 'root', roles: ['admin'], action: 'admin:reload', source: '10.1.2.3', time },
      { action: 'infer', model: 'mnist', time },
      { apiKeyId: 'ci-bot', action: 'infer', model: 'digits', source: '192.0.2.1', time },
    ];
    for (const ask of asks) {
      const principal = ask.apiKeyId
        ? { id: `key:${ask.apiKeyId}`, method: 'api_key' as const, roles: [...policy.apiKeys.get(ask.apiKeyId)!.entry.roles] }
        : ask.sub
          ? { id: `user:${ask.sub}`, method: 'jwt' as const, roles: typeof ask.roles === 'string' ? ask.roles.split(',') : ask.roles! }
          : { id: 'anonymous', method: 'anonymous' as const, roles: [] };
      const expected = evaluate(policy, { principal, action: ask.action, model: ask.model, source: ask.source ?? '127.0.0.1', time: Date.parse(time) });
      const r = await command('policy-explain', 'policyExplainCommand', [ask]);
      assert.equal(r.code, expected.allowed ? 0 : 2, r.stderr);
      assert.match(r.stdout, new RegExp(`decision: ${expected.allowed ? 'ALLOW' : 'DENY'} by ${expected.rule}`));
      for (const g of policy.grants) assert.ok(r.stdout.includes(g.name), `trace lacks ${g.name}`);
      assert.match(r.stdout, new RegExp(`=> match  ${expected.rule}`));

      const json = await command('policy-explain', 'policyExplainCommand', [{ ...ask, json: true }]);
      const parsed = JSON.parse(json.stdout) as { decision: unknown; trace: { rule: string; decided: boolean }[] };
      assert.deepEqual(parsed.decision, expected);
      assert.deepEqual(
        parsed.trace.filter((t) => t.decided).map((t) => t.rule),
        [expected.rule],
      );
    }
  });

  test('policy explain: bad arguments are errors, exit 1', async () => {
    for (const ask of [
      { action: 'fly' },
      { action: 'infer', time: 'yesterday' },
      { action: 'infer', apiKeyId: 'nobody' },
      { action: 'infer', apiKeyId: 'ci-bot', roles: 'admin' },
      { action: 'infer', file: join(dir, 'missing.yaml') },
    ]) {
      const r = await command('policy-explain', 'policyExplainCommand', [ask]);
      assert.equal(r.code, 1, JSON.stringify(ask));
      assert.ok(r.stderr.length > 0);
    }
  });

  test('apikey create: prints the key once and an entry that, pasted into a policy, accepts exactly that key', async () => {
    const r = await command('apikey-create', 'apikeyCreateCommand', [{ id: 'scorer', owner: 'risk team', roles: 'analyst', expires: '2099-01-01', file: BUNDLED_POLICY_FILE }]);
    assert.equal(r.code, 0, r.stderr);
    const keys = r.stdout.match(/vk\.scorer\.[A-Za-z0-9_-]{43}/g) ?? [];
    assert.equal(keys.length, 1);
    const snippet = r.stdout.slice(r.stdout.indexOf('  - id: scorer'));
    assert.ok(!snippet.includes(keys[0]), 'the entry must not hold the key');
    const base = await readFile(BUNDLED_POLICY_FILE, 'utf8');
    const policy = parsePolicyText(base.replace(/^api_keys:\n/m, `api_keys:\n${snippet}`), 'pasted.yaml');
    const found = findApiKey(policy, keys[0], Date.parse('2030-01-01T00:00:00Z'));
    assert.ok(found.ok);
    assert.deepEqual({ ...found.entry }, { id: 'scorer', owner: 'risk team', roles: ['analyst'], expires: '2099-01-01T00:00:00Z' });
    assert.deepEqual(findApiKey(policy, keys[0], Date.parse('2099-01-01T00:00:00Z')), { ok: false, code: 'API_KEY_EXPIRED' });
  });

  test('apikey create --json gives the key and the entry', async () => {
    const r = await command('apikey-create', 'apikeyCreateCommand', [{ id: 'svc', owner: 'o', roles: ['analyst', 'auditor'], json: true }]);
    assert.equal(r.code, 0, r.stderr);
    const { key, entry } = JSON.parse(r.stdout) as { key: string; entry: { hash: string; roles: string[] } };
    const policy = parsePolicyText(`version: 1\nroles: { analyst: a, auditor: b }\napi_keys:\n  - ${JSON.stringify({ ...entry, id: 'svc', owner: 'o' })}\n`, 'j.yaml');
    assert.ok(findApiKey(policy, key, 0).ok);
  });

  test('apikey create refuses bad arguments and then prints no key', async () => {
    for (const opts of [
      { id: 'a.b', owner: 'o', roles: 'analyst' },
      { id: 'ok', owner: '', roles: 'analyst' },
      { id: 'ok', owner: 'o', roles: '' },
      { id: 'ok', owner: 'o', roles: 'analyst', expires: '2001-01-01' },
      { id: 'ok', owner: 'o', roles: 'analyst', expires: 'next week' },
      { id: 'ok', owner: 'o', roles: 'wizard', file: BUNDLED_POLICY_FILE },
      { id: 'ci-bot', owner: 'o', roles: 'analyst', file: BUNDLED_POLICY_FILE },
    ]) {
      const r = await command('apikey-create', 'apikeyCreateCommand', [opts]);
      assert.equal(r.code, 1, JSON.stringify(opts));
      assert.ok(!/vk\./.test(r.stdout + r.stderr), JSON.stringify(opts));
    }
  });
});
