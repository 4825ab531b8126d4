import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Principal } from '../../gateway/src/auth/principal.js';
import { ANONYMOUS } from '../../gateway/src/auth/principal.js';
import { ACTIONS } from '../../policies/src/actions.js';
import { parsePolicyText } from '../../policies/src/compile-policy.js';
import { evaluate, explain, type PolicyPrincipal, type PolicyRequest } from '../../policies/src/evaluate.js';

// The gateway's Principal must be usable as the engine's principal as is.
const asPolicyPrincipal = (p: Principal): PolicyPrincipal => p;

const POLICY = `
version: 1
anonymous: { actions: [health] }
roles:
  admin: everything
  analyst: inference on demo models
  auditor: audit log
  intern: only mnist
  oncall: status page
  mlops: rolls out the fraud models
  nightly: night batch jobs
grants:
  - id: admin-all
    roles: [admin]
    actions: ["*"]
  - id: analyst-demo
    roles: [analyst]
    actions: [infer, metadata, health]
    models: [mnist, digits]
  - id: analyst-fraud-office
    roles: [analyst]
    actions: [infer]
    models: ["fraud-*"]
    versions: ["2"]
    when:
      source_cidrs: [10.20.0.0/16, "2001:db8::/32"]
      hours_utc: { from: "06:00", to: "22:00" }
  - id: nightly-window
    roles: [nightly]
    actions: [infer]
    when: { hours_utc: { from: "22:00", to: "06:00" } }
  - id: bob-secret-metadata
    principals: ["user:bob"]
    actions: [metadata]
    models: [secret]
  - id: intern-everything-on-mnist
    roles: [intern]
    actions: ["*"]
    models: [mnist]
  - id: auditor-reads
    roles: [auditor]
    actions: ["audit:read"]
  - id: oncall-status
    roles: [oncall]
    actions: ["admin:status"]
  - id: mlops-fraud-rollouts
    roles: [mlops]
    actions: ["admin:models"]
    models: ["fraud-*"]
denies:
  - id: no-admin-from-outside
    roles: ["*"]
    actions: ["admin:*"]
    unless: { source_cidrs: [127.0.0.0/8, "::1/128"] }
  - id: no-mnist-v0
    roles: ["*"]
    actions: [infer]
    models: [mnist]
    versions: ["0"]
  - id: mallory
    principals: ["user:mallory"]
    actions: ["*"]
  - id: prod-frozen
    roles: ["*"]
    actions: ["*"]
    models: ["prod-*"]
  - id: anon-health-from-bad-net
    principals: [anonymous]
    actions: [health]
    when: { source_cidrs: [203.0.113.0/24] }
`;

const policy = parsePolicyText(POLICY, 'test-policy.yaml');

const user = (name: string, ...roles: string[]): PolicyPrincipal => asPolicyPrincipal({ id: `user:${name}`, method: 'jwt', roles });
const anon = asPolicyPrincipal(ANONYMOUS);
const NOON = Date.parse('2026-03-02T12:00:00Z');
const at = (hhmm: string) => Date.parse(`2026-03-02T${hhmm}:00Z`);
const OFFICE = '10.20.1.1';
const LOOPBACK = '127.0.0.1';

interface Case {
  name: string;
  req: Omit<PolicyRequest, 'time' | 'source'> & { time?: number; source?: string };
  allowed: boolean;
  rule: string;
}

const cases: Case[] = [
  // grants and the deny-wins rule
  { name: 'an analyst may infer on a demo model', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'mnist' }, allowed: true, rule: 'grant:analyst-demo' },
  { name: 'a deny beats a matching grant', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'mnist', version: '0' }, allowed: false, rule: 'deny:no-mnist-v0' },
  { name: 'a deny beats even admin-everything', req: { principal: user('root', 'admin'), action: 'infer', model: 'mnist', version: '0' }, allowed: false, rule: 'deny:no-mnist-v0' },
  { name: 'a deny by principal id beats every role', req: { principal: user('mallory', 'admin'), action: 'health' }, allowed: false, rule: 'deny:mallory' },
  { name: 'no grant for another model: default deny', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'iris' }, allowed: false, rule: 'default-deny' },
  { name: 'a role nobody granted gets nothing', req: { principal: user('gus', 'ghost'), action: 'infer', model: 'mnist' }, allowed: false, rule: 'default-deny' },
  { name: 'no roles gets nothing beyond anonymous actions', req: { principal: user('nobody'), action: 'metadata', model: 'mnist' }, allowed: false, rule: 'default-deny' },
  { name: 'an unknown action is denied', req: { principal: user('root', 'admin'), action: 'delete' }, allowed: false, rule: 'default-deny' },
  { name: 'the earliest matching grant in the file is named, whatever the order of roles', req: { principal: user('ann', 'analyst', 'admin'), action: 'infer', model: 'mnist' }, allowed: true, rule: 'grant:admin-all' },
  { name: 'several roles combine', req: { principal: user('ann', 'analyst', 'auditor'), action: 'audit:read' }, allowed: true, rule: 'grant:auditor-reads' },

  // model-less actions ignore models; wildcards on restricted models stay on the model
  { name: 'health is granted by a model-restricted grant that names it', req: { principal: user('ann', 'analyst'), action: 'health' }, allowed: true, rule: 'grant:analyst-demo' },
  { name: '"*" on one model covers infer there', req: { principal: user('ian', 'intern'), action: 'infer', model: 'mnist' }, allowed: true, rule: 'grant:intern-everything-on-mnist' },
  { name: '"*" on one model does not cover other models', req: { principal: user('ian', 'intern'), action: 'infer', model: 'digits' }, allowed: false, rule: 'default-deny' },
  { name: '"*" on one model does not grant admin actions', req: { principal: user('ian', 'intern'), action: 'admin:status', source: LOOPBACK }, allowed: false, rule: 'default-deny' },
  { name: '"*" on one model does not let it load, unload or roll back that model', req: { principal: user('ian', 'intern'), action: 'admin:models', model: 'mnist', source: LOOPBACK }, allowed: false, rule: 'default-deny' },
  { name: 'admin:models named for fraud-* lets a team roll out its own models', req: { principal: user('mo', 'mlops'), action: 'admin:models', model: 'fraud-scorer', source: LOOPBACK }, allowed: true, rule: 'grant:mlops-fraud-rollouts' },
  { name: 'admin:models for fraud-* is not for other models', req: { principal: user('mo', 'mlops'), action: 'admin:models', model: 'mnist', source: LOOPBACK }, allowed: false, rule: 'default-deny' },
  { name: 'a deny of "*" on some models freezes them: no load or unload, even for an admin', req: { principal: user('ada', 'admin'), action: 'admin:models', model: 'prod-scorer', source: LOOPBACK }, allowed: false, rule: 'deny:prod-frozen' },
  { name: 'admin:models from outside is denied like every admin action', req: { principal: user('mo', 'mlops'), action: 'admin:models', model: 'fraud-scorer', source: '198.51.100.7' }, allowed: false, rule: 'deny:no-admin-from-outside' },
  { name: '"*" on one model does not grant the audit log', req: { principal: user('ian', 'intern'), action: 'audit:read' }, allowed: false, rule: 'default-deny' },
  { name: 'what anonymous callers may do, authenticated ones may too', req: { principal: user('ian', 'intern'), action: 'health' }, allowed: true, rule: 'anonymous' },

  // versions
  { name: 'a version-restricted grant needs that version', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '3', source: OFFICE }, allowed: false, rule: 'default-deny' },
  { name: 'a version-restricted grant does not match an unversioned request', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', source: OFFICE }, allowed: false, rule: 'default-deny' },

  // conditions: CIDRs (IPv4, IPv6, IPv4-mapped) and hours
  { name: 'a grant inside its CIDR and hours matches', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: OFFICE }, allowed: true, rule: 'grant:analyst-fraud-office' },
  { name: 'a glob matches a prefix', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-', version: '2', source: OFFICE }, allowed: true, rule: 'grant:analyst-fraud-office' },
  { name: 'a glob is anchored', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'xfraud-cards', version: '2', source: OFFICE }, allowed: false, rule: 'default-deny' },
  { name: 'a grant outside its CIDR does not match', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '10.21.0.1' }, allowed: false, rule: 'default-deny' },
  { name: 'a grant outside its hours does not match', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: OFFICE, time: at('22:00') }, allowed: false, rule: 'default-deny' },
  { name: 'the start of the hours is inside', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: OFFICE, time: at('06:00') }, allowed: true, rule: 'grant:analyst-fraud-office' },
  { name: 'an IPv6 source inside an IPv6 CIDR', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '2001:db8:0:1::5' }, allowed: true, rule: 'grant:analyst-fraud-office' },
  { name: 'an IPv6 source outside', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '2001:db9::5' }, allowed: false, rule: 'default-deny' },
  { name: 'an IPv4-mapped IPv6 source matches IPv4 CIDRs', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '::ffff:10.20.3.4' }, allowed: true, rule: 'grant:analyst-fraud-office' },
  { name: 'an IPv4-mapped source outside the block', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '::ffff:10.99.3.4' }, allowed: false, rule: 'default-deny' },
  { name: 'an unknown source never satisfies a CIDR condition', req: { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '' }, allowed: false, rule: 'default-deny' },
  { name: 'hours wrapping midnight: late evening', req: { principal: user('nia', 'nightly'), action: 'infer', model: 'any', time: at('23:30') }, allowed: true, rule: 'grant:nightly-window' },
  { name: 'hours wrapping midnight: early morning', req: { principal: user('nia', 'nightly'), action: 'infer', model: 'any', time: at('05:59') }, allowed: true, rule: 'grant:nightly-window' },
  { name: 'hours wrapping midnight: the end is outside', req: { principal: user('nia', 'nightly'), action: 'infer', model: 'any', time: at('06:00') }, allowed: false, rule: 'default-deny' },
  { name: 'hours wrapping midnight: noon is outside', req: { principal: user('nia', 'nightly'), action: 'infer', model: 'any', time: NOON }, allowed: false, rule: 'default-deny' },

  // principals
  { name: 'a grant by principal id matches that principal', req: { principal: user('bob'), action: 'metadata', model: 'secret' }, allowed: true, rule: 'grant:bob-secret-metadata' },
  { name: 'a grant by principal id covers only its actions', req: { principal: user('bob'), action: 'infer', model: 'secret' }, allowed: false, rule: 'default-deny' },
  { name: 'a grant by principal id does not match a namesake with another id', req: { principal: { id: 'key:bob', method: 'api_key', roles: [] }, action: 'metadata', model: 'secret' }, allowed: false, rule: 'default-deny' },

  // admin actions and their deny
  { name: 'admin actions from loopback', req: { principal: user('root', 'admin'), action: 'admin:reload', source: LOOPBACK }, allowed: true, rule: 'grant:admin-all' },
  { name: 'admin actions from IPv6 loopback', req: { principal: user('root', 'admin'), action: 'admin:reload', source: '::1' }, allowed: true, rule: 'grant:admin-all' },
  { name: 'admin actions from IPv4-mapped loopback', req: { principal: user('root', 'admin'), action: 'admin:reload', source: '::ffff:127.0.0.1' }, allowed: true, rule: 'grant:admin-all' },
  { name: 'admin actions from outside are denied even to admins', req: { principal: user('root', 'admin'), action: 'admin:reload', source: '10.0.0.1' }, allowed: false, rule: 'deny:no-admin-from-outside' },
  { name: 'admin actions from an unparseable source are denied', req: { principal: user('root', 'admin'), action: 'admin:status', source: 'localhost' }, allowed: false, rule: 'deny:no-admin-from-outside' },
  { name: 'a narrow admin grant covers only its action', req: { principal: user('olga', 'oncall'), action: 'admin:reload', source: LOOPBACK }, allowed: false, rule: 'default-deny' },
  { name: 'a narrow admin grant', req: { principal: user('olga', 'oncall'), action: 'admin:status', source: LOOPBACK }, allowed: true, rule: 'grant:oncall-status' },

  // anonymous callers
  { name: 'anonymous may do anonymous.actions', req: { principal: anon, action: 'health' }, allowed: true, rule: 'anonymous' },
  { name: 'anonymous cannot infer', req: { principal: anon, action: 'infer', model: 'mnist' }, allowed: false, rule: 'default-deny' },
  { name: 'anonymous cannot read metadata', req: { principal: anon, action: 'metadata', model: 'mnist' }, allowed: false, rule: 'default-deny' },
  { name: 'anonymous cannot read the audit log', req: { principal: anon, action: 'audit:read' }, allowed: false, rule: 'default-deny' },
  { name: 'anonymous cannot do admin actions, even from loopback', req: { principal: anon, action: 'admin:status', source: LOOPBACK }, allowed: false, rule: 'default-deny' },
  { name: 'denies for "*" apply to anonymous callers too', req: { principal: anon, action: 'admin:status', source: '10.0.0.1' }, allowed: false, rule: 'deny:no-admin-from-outside' },
  { name: 'anonymous actions are still subject to denies', req: { principal: anon, action: 'health', source: '203.0.113.7' }, allowed: false, rule: 'deny:anon-health-from-bad-net' },
  { name: 'a role literally named "*" matches nothing special', req: { principal: user('eve', '*'), action: 'infer', model: 'mnist' }, allowed: false, rule: 'default-deny' },
  { name: 'roles named like Object.prototype members match nothing', req: { principal: user('eve', 'constructor', '__proto__', 'toString', 'hasOwnProperty'), action: 'infer', model: 'mnist' }, allowed: false, rule: 'default-deny' },
  { name: 'anonymous callers never get grants, even with roles attached', req: { principal: { id: 'anonymous', method: 'anonymous', roles: ['admin'] }, action: 'infer', model: 'mnist' }, allowed: false, rule: 'default-deny' },
];

describe('policy evaluation', () => {
  for (const c of cases) {
    test(c.name, () => {
      const d = evaluate(policy, { source: '192.0.2.1', time: NOON, ...c.req });
      assert.equal(d.rule, c.rule, d.reason);
      assert.equal(d.allowed, c.allowed, d.reason);
      assert.equal(d.mode, 'enforce');
      assert.ok(d.reason.length > 0);
    });
  }

  test('a default deny names the closest grant that failed only its condition', () => {
    const d = evaluate(policy, { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '10.21.0.1', time: NOON });
    assert.equal(d.rule, 'default-deny');
    assert.match(d.reason, /grant:analyst-fraud-office/);
    assert.match(d.reason, /10\.21\.0\.1 not in 10\.20\.0\.0\/16/);
    const late = evaluate(policy, { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: OFFICE, time: at('23:15') });
    assert.match(late.reason, /23:15 UTC outside 06:00–22:00/);
  });

  test('the time may be a Date or ms, and only its UTC time of day matters', () => {
    const req = { principal: user('nia', 'nightly'), action: 'infer', model: 'm', source: LOOPBACK };
    for (const iso of ['2026-03-02T23:30:00Z', '2026-03-02T23:30:00+00:00', '2026-03-03T01:30:00+02:00', '1969-12-31T23:30:00Z']) {
      assert.equal(evaluate(policy, { ...req, time: new Date(iso) }).allowed, true, iso);
      assert.equal(evaluate(policy, { ...req, time: Date.parse(iso) }).allowed, true, iso);
    }
  });

  test('shadow mode is reported with the decision; the engine still says what it decided', () => {
    const shadow = parsePolicyText(POLICY.replace('version: 1', 'version: 1\nmode: shadow'), 'shadow.yaml');
    const d = evaluate(shadow, { principal: anon, action: 'infer', model: 'mnist', source: LOOPBACK, time: NOON });
    assert.deepEqual([d.allowed, d.rule, d.mode], [false, 'default-deny', 'shadow']);
  });

  test('anonymous.actions defaults to health only', () => {
    const minimal = parsePolicyText('version: 1\nroles: {}\n', 'minimal.yaml');
    for (const action of ACTIONS) {
      const d = evaluate(minimal, { principal: anon, action, model: 'mnist', source: LOOPBACK, time: NOON });
      assert.equal(d.allowed, action === 'health', action);
    }
  });

  test('an empty policy allows nothing to anyone but health', () => {
    const minimal = parsePolicyText('version: 1\nroles: { admin: x }\n', 'minimal.yaml');
    for (const action of ACTIONS.filter((a) => a !== 'health')) {
      assert.equal(evaluate(minimal, { principal: user('root', 'admin'), action, model: 'mnist', source: LOOPBACK, time: NOON }).allowed, false);
    }
  });
});

describe('explain', () => {
  const principals = [anon, user('ann', 'analyst'), user('root', 'admin'), user('ian', 'intern'), user('bob'), user('mallory', 'admin'), user('nia', 'nightly'), user('x', 'analyst', 'auditor', 'oncall')];
  const actions = [...ACTIONS, 'bogus'];
  const models: (string | undefined)[] = [undefined, 'mnist', 'digits', 'fraud-cards', 'secret'];
  const versions: (string | undefined)[] = [undefined, '0', '2'];
  const sources = [LOOPBACK, OFFICE, '::ffff:10.20.0.9', '2001:db8::1', '203.0.113.7', '::1', 'garbage'];
  const times = [NOON, at('23:00'), at('05:00')];

  test('gives exactly the decision evaluate gives, and marks the deciding rule, for every combination', () => {
    let n = 0;
    for (const principal of principals)
      for (const action of actions)
        for (const model of models)
          for (const version of versions)
            for (const source of sources)
              for (const time of times) {
                const req = { principal, action, model, version, source, time };
                const d = evaluate(policy, req);
                const e = explain(policy, req);
                const label = JSON.stringify({ ...req, principal: principal.id });
                assert.deepEqual(e.decision, d, label);
                const decided = e.trace.filter((t) => t.decided);
                assert.equal(decided.length, 1, label);
                assert.equal(decided[0].rule, d.rule, label);
                assert.equal(decided[0].matched, true, label);
                // Deny wins: no deny matched if the decision is an allow; the first matching deny decides otherwise.
                const firstDeny = e.trace.find((t) => t.rule.startsWith('deny:') && t.matched);
                if (d.allowed) assert.equal(firstDeny, undefined, label);
                else if (firstDeny) assert.equal(d.rule, firstDeny.rule, label);
                n++;
              }
    assert.ok(n > 5000);
  });

  test('traces every rule of the policy, with a reason for each', () => {
    const e = explain(policy, { principal: user('ann', 'analyst'), action: 'infer', model: 'fraud-cards', version: '2', source: '10.21.0.1', time: NOON });
    const rules = e.trace.map((t) => t.rule);
    for (const r of [...policy.denies, ...policy.grants]) assert.ok(rules.includes(r.name), r.name);
    const fraud = e.trace.find((t) => t.rule === 'grant:analyst-fraud-office')!;
    assert.equal(fraud.matched, false);
    assert.match(fraud.why, /when-condition fails: source 10\.21\.0\.1 not in/);
    const admin = e.trace.find((t) => t.rule === 'grant:admin-all')!;
    assert.match(admin.why, /role admin/);
    assert.ok(e.trace.every((t) => t.why.length > 0));
  });

  test('says why a wildcard on a restricted model does not cover an admin action', () => {
    const e = explain(policy, { principal: user('ian', 'intern'), action: 'admin:status', source: LOOPBACK, time: NOON });
    const t = e.trace.find((x) => x.rule === 'grant:intern-everything-on-mnist')!;
    assert.match(t.why, /wildcard in a grant limited to some models covers infer and metadata only/);
  });
});
