import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { ACTIONS } from '../../policies/src/actions.js';
import { findApiKey } from '../../policies/src/api-keys.js';
import { compilePolicy, parsePolicyText, type CompiledPolicy } from '../../policies/src/compile-policy.js';
import { evaluate, type PolicyPrincipal } from '../../policies/src/evaluate.js';
import { BUNDLED_POLICY_FILE, loadPolicyFile } from '../../policies/src/policy-store.js';
import { ConfigFileError } from '../../oip/src/yaml-with-schema.js';

const GOOD = `version: 1
roles:
  admin: everything
  analyst: inference
grants:
  - id: analyst-demo
    roles: [analyst]
    actions: [infer, metadata]
    models: [mnist]
denies:
  - id: outside
    roles: ["*"]
    actions: ["admin:*"]
    unless: { source_cidrs: [127.0.0.0/8] }
api_keys:
  - id: ci-bot
    owner: team
    roles: [analyst]
    hash: "sha256:${'ab'.repeat(32)}"
limits:
  roles:
    analyst: { requests_per_minute: 10 }
`;

/** The 1-based line of the first line containing `marker` (so tests never hard-code line numbers). */
function lineOf(text: string, marker: string, after = 0): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l, n) => n >= after && l.includes(marker));
  assert.ok(i >= 0, `marker ${marker} not in the test text`);
  return i + 1;
}

/** Parses `text` expecting failure; returns the problems. */
function problemsOf(text: string, file = '/policies/p.yaml'): string[] {
  try {
    parsePolicyText(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, String(err));
    assert.equal(err.file, file);
    return err.problems;
  }
  assert.fail('the policy was accepted');
}

function assertProblemAt(problems: string[], file: string, line: number, path: string, reason: RegExp): void {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const re = new RegExp(`^${esc(file)}:${line}:\\d+ ${esc(path)}: `);
  const hit = problems.find((p) => re.test(p));
  assert.ok(hit, `no problem at line ${line} ${path} in:\n${problems.join('\n')}`);
  assert.match(hit, reason);
}

describe('policy file: valid', () => {
  test('the good fixture loads, with defaults for what it leaves out', () => {
    const p = parsePolicyText(GOOD, 'good.yaml');
    assert.equal(p.mode, 'enforce');
    assert.deepEqual(p.source.anonymous.actions, ['health']);
    assert.equal(p.source.limits.mode, 'enforce');
    assert.equal(p.source.limits.on_store_failure, 'fail_closed');
    assert.deepEqual(p.source.grants[0].versions, ['*']);
    assert.equal(p.source.limits.roles.analyst.requests_per_minute, 10);
    assert.match(p.digest!, /^sha256:[0-9a-f]{64}$/);
  });

  test('a compiled policy cannot be changed behind the engine', () => {
    const p = parsePolicyText(GOOD, 'good.yaml');
    assert.throws(() => (p.source.grants as unknown[]).push({}));
    assert.throws(() => {
      (p.source.grants[0].roles as string[])[0] = 'admin';
    });
    assert.throws(() => {
      (p as { mode: string }).mode = 'shadow';
    });
  });

  test('limits by role cannot be reached through Object.prototype', () => {
    const p = parsePolicyText(GOOD, 'good.yaml');
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(p.limits.roles[name], undefined, name);
    assert.equal(p.limits.roles.analyst.requests_per_minute, 10);
  });

  test('YAML numbers are accepted as model and version names', () => {
    const p = parsePolicyText(GOOD.replace('models: [mnist]', 'models: [mnist]\n    versions: [1, 2]'), 'v.yaml');
    assert.deepEqual(p.source.grants[0].versions, ['1', '2']);
    const ann: PolicyPrincipal = { id: 'user:ann', method: 'jwt', roles: ['analyst'] };
    assert.equal(evaluate(p, { principal: ann, action: 'infer', model: 'mnist', version: '2', source: '::1', time: 0 }).allowed, true);
    assert.equal(evaluate(p, { principal: ann, action: 'infer', model: 'mnist', version: '3', source: '::1', time: 0 }).allowed, false);
  });

  test('compilePolicy accepts a policy built in code and validates it the same way', () => {
    const p = compilePolicy({ version: 1, roles: { ops: 'operators' }, grants: [{ id: 'ops', roles: ['ops'], actions: ['admin:status'] }] });
    assert.equal(p.grants[0].name, 'grant:ops');
    assert.throws(
      () => compilePolicy({ version: 1, roles: {}, grants: [{ id: 'ops', roles: ['ops'], actions: ['admin:status'] }] }),
      (err: unknown) => err instanceof ConfigFileError && /<policy> grants\.0\.roles\.0: unknown role "ops"/.test(err.problems.join('\n')),
    );
  });
});

describe('policy file: every problem reported with file:line:col path', () => {
  const file = '/policies/p.yaml';

  const single: { name: string; edit: (t: string) => string; marker: string; after?: string; path: string; reason: RegExp }[] = [
    { name: 'an unknown role in a grant', edit: (t) => t.replace('roles: [analyst]\n    actions: [infer', 'roles: [analyts]\n    actions: [infer'), marker: '[analyts]', path: 'grants.0.roles.0', reason: /unknown role "analyts".*defined: admin, analyst/ },
    { name: 'an unknown role in a deny', edit: (t) => t.replace('roles: ["*"]', 'roles: [contractor]'), marker: '[contractor]', path: 'denies.0.roles.0', reason: /unknown role "contractor"/ },
    { name: 'an unknown role on an API key', edit: (t) => t.replace('owner: team\n    roles: [analyst]', 'owner: team\n    roles: [robot]'), marker: '[robot]', path: 'api_keys.0.roles.0', reason: /unknown role "robot"/ },
    { name: 'an unknown role in limits', edit: (t) => t.replace('    analyst: { requests', '    analsyt: { requests'), marker: 'analsyt:', path: 'limits.roles.analsyt', reason: /unknown role "analsyt"/ },
    { name: '"*" as an API key role', edit: (t) => t.replace('owner: team\n    roles: [analyst]', 'owner: team\n    roles: ["*"]'), marker: 'roles: ["*"]', after: 'owner: team', path: 'api_keys.0.roles.0', reason: /must be a role name/ },
    { name: 'an invalid CIDR', edit: (t) => t.replace('[127.0.0.0/8]', '[127.0.0.300/8]'), marker: '127.0.0.300', path: 'denies.0.unless.source_cidrs.0', reason: /not an IPv4 or IPv6 address/ },
    { name: 'a CIDR prefix too long', edit: (t) => t.replace('[127.0.0.0/8]', '["::1/129"]'), marker: '::1/129', path: 'denies.0.unless.source_cidrs.0', reason: /prefix length must be 0 to 128/ },
    { name: 'a CIDR with host bits set', edit: (t) => t.replace('[127.0.0.0/8]', '[127.0.0.1/8]'), marker: '127.0.0.1/8', path: 'denies.0.unless.source_cidrs.0', reason: /host bits set; did you mean 127\.0\.0\.0\/8/ },
    { name: 'an empty CIDR list', edit: (t) => t.replace('[127.0.0.0/8]', '[]'), marker: 'source_cidrs: []', path: 'denies.0.unless.source_cidrs', reason: /at least one CIDR/ },
    { name: 'an invalid clock time', edit: (t) => t.replace('unless: { source_cidrs: [127.0.0.0/8] }', 'when: { hours_utc: { from: "25:00", to: "06:00" } }'), marker: '25:00', path: 'denies.0.when.hours_utc.from', reason: /HH:MM/ },
    { name: 'a time window that is empty or the whole day', edit: (t) => t.replace('unless: { source_cidrs: [127.0.0.0/8] }', 'when: { hours_utc: { from: "00:00", to: "24:00" } }'), marker: '24:00', path: 'denies.0.when.hours_utc', reason: /same time/ },
    { name: 'an unknown condition', edit: (t) => t.replace('unless: { source_cidrs: [127.0.0.0/8] }', 'unless: { source_ips: [127.0.0.0/8] }'), marker: 'source_ips', path: 'denies.0.unless', reason: /source_ips/ },
    { name: 'an unknown action', edit: (t) => t.replace('actions: [infer, metadata]', 'actions: [infer, predict]'), marker: 'predict', path: 'grants.0.actions.1', reason: /unknown action "predict"; use one of infer, metadata, health/ },
    { name: 'an unknown action namespace', edit: (t) => t.replace('actions: ["admin:*"]', 'actions: ["root:*"]'), marker: 'root:*', path: 'denies.0.actions.0', reason: /unknown action "root:\*"/ },
    { name: 'admin:models limited to versions (it acts on a whole model)', edit: (t) => t.replace('actions: [infer, metadata]', 'actions: [infer, "admin:models"]\n    versions: ["2"]'), marker: 'versions:', path: 'grants.0.versions', reason: /acts on a whole model/ },
    { name: 'a wildcard that covers nothing on restricted models', edit: (t) => t.replace('actions: [infer, metadata]', 'actions: ["admin:*"]'), marker: '"admin:*"', path: 'grants.0.actions', reason: /covers no action/ },
    { name: 'a malformed hash', edit: (t) => t.replace(`sha256:${'ab'.repeat(32)}`, `sha256:${'ab'.repeat(31)}`), marker: 'hash:', path: 'api_keys.0.hash', reason: /64 lowercase hex digits/ },
    { name: 'a key pasted where its hash belongs', edit: (t) => t.replace(`sha256:${'ab'.repeat(32)}`, `vk.ci-bot.${'A'.repeat(43)}`), marker: 'hash:', path: 'api_keys.0.hash', reason: /never the key itself/ },
    { name: 'an expiry without a time zone', edit: (t) => t.replace('owner: team', 'owner: team\n    expires: "2027-06-30T00:00:00"'), marker: 'expires:', path: 'api_keys.0.expires', reason: /time zone/ },
    { name: 'an API key id with a dot', edit: (t) => t.replace('id: ci-bot', 'id: ci.bot'), marker: 'ci.bot', path: 'api_keys.0.id', reason: /no dots/ },
    { name: 'a duplicate rule id across grants and denies', edit: (t) => t.replace('id: outside', 'id: analyst-demo'), marker: '- id: analyst-demo', after: 'denies:', path: 'denies.0.id', reason: /duplicate rule id "analyst-demo" \(also grants\[0\]\)/ },
    { name: 'a rule naming nobody', edit: (t) => t.replace('    roles: [analyst]\n    actions: [infer', '    actions: [infer'), marker: '- id: analyst-demo', path: 'grants.0', reason: /names no roles and no principals/ },
    { name: 'a grant to the anonymous principal', edit: (t) => t.replace('    roles: [analyst]\n    actions: [infer', '    principals: [anonymous]\n    actions: [infer'), marker: '[anonymous]', path: 'grants.0.principals.0', reason: /anonymous\.actions/ },
    { name: 'an undefined role description', edit: (t) => t.replace('  admin: everything', '  admin:'), marker: '  admin:', path: 'roles.admin', reason: /describe the role/ },
    { name: 'a misspelt key', edit: (t) => t.replace('denies:', 'deny:'), marker: 'version: 1', path: '(top level)', reason: /Unrecognized key: "deny"/ },
    { name: 'an unknown mode', edit: (t) => t.replace('version: 1', 'version: 1\nmode: audit'), marker: 'mode: audit', path: 'mode', reason: /enforce|shadow/ },
    { name: 'a zero rate limit', edit: (t) => t.replace('requests_per_minute: 10', 'requests_per_minute: 0'), marker: 'requests_per_minute: 0', path: 'limits.roles.analyst.requests_per_minute', reason: /./ },
    { name: 'a wrong version', edit: (t) => t.replace('version: 1', 'version: 2'), marker: 'version: 2', path: 'version', reason: /must be 1/ },
  ];

  for (const c of single) {
    test(c.name, () => {
      const text = c.edit(GOOD);
      assert.notEqual(text, GOOD, 'the edit changed nothing');
      const problems = problemsOf(text, file);
      assertProblemAt(problems, file, lineOf(text, c.marker, c.after ? lineOf(text, c.after) : 0), c.path, c.reason);
      assert.equal(new Set(problems).size, problems.length, 'a problem is reported twice');
    });
  }

  test('a duplicate API key id and a reused hash', () => {
    const text = GOOD.replace(
      'limits:',
      `  - id: ci-bot\n    owner: other\n    hash: "sha256:${'ab'.repeat(32)}"\nlimits:`,
    );
    const problems = problemsOf(text, file);
    const second = lineOf(text, '- id: ci-bot', lineOf(text, '- id: ci-bot'));
    assertProblemAt(problems, file, second, 'api_keys.1.id', /duplicate API key id "ci-bot"/);
    assertProblemAt(problems, file, second + 2, 'api_keys.1.hash', /same hash as api_keys\[0\]/);
  });

  test('shape problems and cross-reference problems are reported together, all of them', () => {
    const text = GOOD.replace('actions: [infer, metadata]', 'actions: [infer, predict]').replace('roles: ["*"]', 'roles: [contractor]').replace('[127.0.0.0/8]', '[127.0.0.0/33]');
    const problems = problemsOf(text, file);
    assert.equal(problems.length, 3, problems.join('\n'));
    assertProblemAt(problems, file, lineOf(text, 'predict'), 'grants.0.actions.1', /unknown action/);
    assertProblemAt(problems, file, lineOf(text, 'contractor'), 'denies.0.roles.0', /unknown role/);
    assertProblemAt(problems, file, lineOf(text, '/33'), 'denies.0.unless.source_cidrs.0', /prefix length/);
  });

  test('YAML syntax errors and duplicate keys name their line', () => {
    const text = GOOD.replace('  analyst: inference', '  analyst: inference\n  analyst: again');
    const problems = problemsOf(text, file);
    assert.match(problems[0], new RegExp(`^${file}:${lineOf(text, 'analyst: again')}:\\d+ `));
  });

  test('version and roles are required', () => {
    const problems = problemsOf('grants: []\n', file);
    assert.ok(problems.some((p) => /:1:1 version: /.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /:1:1 roles: /.test(p)), problems.join('\n'));
  });

  test('loadPolicyFile reports an unreadable file as a problem, not a crash', async () => {
    await assert.rejects(loadPolicyFile('/nonexistent/policy.yaml'), (err: unknown) => err instanceof ConfigFileError && /cannot read: ENOENT/.test(err.problems[0]));
  });
});

describe('the bundled policy', () => {
  let bundled: CompiledPolicy;
  const t = Date.parse('2026-06-01T12:00:00Z');
  const who = (id: string, ...roles: string[]): PolicyPrincipal => ({ id: `user:${id}`, method: 'jwt', roles });
  const allowed = (p: PolicyPrincipal, action: string, model?: string, source = '127.0.0.1') => evaluate(bundled, { principal: p, action, model, source, time: t }).allowed;

  test('is valid', async () => {
    bundled = await loadPolicyFile(BUNDLED_POLICY_FILE);
    assert.equal(bundled.mode, 'enforce');
    assert.deepEqual([...bundled.roles].sort(), ['admin', 'analyst', 'auditor']);
  });

  test('anonymous callers may only check health', () => {
    const anon: PolicyPrincipal = { id: 'anonymous', method: 'anonymous', roles: [] };
    for (const action of ACTIONS) {
      for (const source of ['127.0.0.1', '198.51.100.4']) assert.equal(allowed(anon, action, 'mnist', source), action === 'health', `${action} from ${source}`);
    }
  });

  test('admin may do everything, but admin actions only from loopback', () => {
    const admin = who('root', 'admin');
    for (const action of ACTIONS) assert.equal(allowed(admin, action, 'mnist', '127.0.0.1'), true, action);
    for (const action of ACTIONS.filter((a) => a.startsWith('admin:'))) {
      for (const source of ['10.0.0.1', '::ffff:10.0.0.1', '2001:db8::1']) assert.equal(allowed(admin, action, undefined, source), false, `${action} from ${source}`);
      assert.equal(allowed(admin, action, undefined, '::1'), true);
      assert.equal(allowed(admin, action, undefined, '::ffff:127.0.0.1'), true);
    }
  });

  test('analyst: infer and metadata on mnist and digits only, nothing admin, no audit log', () => {
    const ann = who('ann', 'analyst');
    for (const model of ['mnist', 'digits']) {
      assert.equal(allowed(ann, 'infer', model, '10.0.0.1'), true);
      assert.equal(allowed(ann, 'metadata', model, '10.0.0.1'), true);
    }
    assert.equal(allowed(ann, 'infer', 'other', '10.0.0.1'), false);
    for (const action of ['admin:status', 'admin:reload', 'audit:read']) assert.equal(allowed(ann, action), false, action);
    assert.equal(bundled.source.limits.roles.analyst.requests_per_minute! > 0, true);
  });

  test('auditor: the audit log, no inference', () => {
    const aud = who('aud', 'auditor');
    assert.equal(allowed(aud, 'audit:read', undefined, '10.0.0.1'), true);
    assert.equal(allowed(aud, 'infer', 'mnist'), false);
    assert.equal(allowed(aud, 'admin:status'), false);
  });

  test('the demo API key in policies/README.md matches the ci-bot entry, and works from loopback only', async () => {
    const readme = await readFile(new URL('../../../policies/README.md', import.meta.url), 'utf8');
    const demo = /vk\.ci-bot\.[A-Za-z0-9_-]{43}/.exec(readme)?.[0];
    assert.ok(demo, 'no demo key in policies/README.md');
    const found = findApiKey(bundled, demo, t);
    assert.ok(found.ok, 'the README demo key does not match the bundled policy');
    assert.equal(found.entry.id, 'ci-bot');
    assert.match(found.entry.description ?? '', /DEMO/);
    const bot: PolicyPrincipal = { id: `key:${found.entry.id}`, method: 'api_key', roles: found.entry.roles };
    assert.equal(allowed(bot, 'infer', 'mnist', '127.0.0.1'), true);
    assert.equal(allowed(bot, 'infer', 'mnist', '192.168.1.20'), false);
  });
});
