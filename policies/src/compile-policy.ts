import { createHash, randomBytes } from 'node:crypto';
import { ConfigFileError, parseYamlWithSchema } from '../../oip/src/yaml-with-schema.js';
import { actionPatternMask, ruleActionMask } from './actions.js';
import { parseCidr, type Cidr } from './cidr.js';
import { parseClock } from './hours.js';
import { policySchema, type AnswerDetail, type AnswersConfig, type Condition, type DetectorActions, type LimitSpec, type LimitsConfig, type Policy, type PolicyInput, type PolicyMode, type PolicyRule } from './policy-schema.js';

/** Matches a model name or a version against a rule's list: exact names, `*`, globs. */
export interface NameMatcher {
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  readonly globs: readonly RegExp[];
  /** As written, for explanations. */
  readonly text: readonly string[];
}

export interface CompiledCondition {
  readonly cidrs: readonly Cidr[] | null;
  readonly hours: { readonly from: number; readonly to: number; readonly text: string } | null;
  readonly source: Condition;
}

export interface CompiledRule {
  readonly kind: 'grant' | 'deny';
  readonly id: string;
  /** `grant:<id>` or `deny:<id>`: what a decision names. */
  readonly name: string;
  /** Position in its list in the file: the first matching rule is the one named. */
  readonly index: number;
  /** roles: ["*"]: every principal (grants never apply to anonymous callers, denies do). */
  readonly anyPrincipal: boolean;
  readonly roles: ReadonlySet<string>;
  readonly principals: ReadonlySet<string>;
  /** Actions covered, one bit each (see actions.ts). */
  readonly actionMask: number;
  /** Whether models or versions are limited; then wildcards cover model actions only. */
  readonly restricted: boolean;
  readonly models: NameMatcher;
  readonly versions: NameMatcher;
  readonly when: CompiledCondition | null;
  readonly unless: CompiledCondition | null;
  readonly rule: PolicyRule;
}

/** Rules by who they apply to, each list in file order. */
export interface RuleIndex {
  readonly anyone: readonly CompiledRule[];
  readonly byRole: ReadonlyMap<string, readonly CompiledRule[]>;
  readonly byPrincipal: ReadonlyMap<string, readonly CompiledRule[]>;
}

/** What the gateway learns about an API key once it is found: never its hash or secret. */
export interface ApiKeyEntry {
  readonly id: string;
  readonly owner: string;
  readonly roles: readonly string[];
  readonly description?: string;
  /** ISO 8601, as written in the policy. */
  readonly expires?: string;
}

export interface CompiledApiKey {
  readonly entry: ApiKeyEntry;
  readonly hash: Buffer;
  /** ms since the epoch, or null for a key that does not expire. */
  readonly expiresAt: number | null;
}

/** A validated policy with everything evaluation needs precomputed. Immutable once built. */
export interface CompiledPolicy {
  /** The validated policy, defaults applied. */
  readonly source: Policy;
  /** The file it was read from, when it was. */
  readonly file: string | null;
  /** `sha256:<hex>` of the file's bytes, when read from text. */
  readonly digest: string | null;
  /** Authorization mode: the gateway enforces or only records denials. */
  readonly mode: PolicyMode;
  readonly roles: ReadonlySet<string>;
  readonly grants: readonly CompiledRule[];
  readonly denies: readonly CompiledRule[];
  readonly grantIndex: RuleIndex;
  readonly denyIndex: RuleIndex;
  /** What anonymous callers may do, as an action mask. */
  readonly anonymousMask: number;
  readonly apiKeys: ReadonlyMap<string, CompiledApiKey>;
  /** Compared against when a presented key's id is unknown, so both paths do the same work. */
  readonly decoyKeyHash: Buffer;
  readonly limits: LimitsConfig;
  /** What each detector's anomalous verdict does. */
  readonly detectors: DetectorActions;
  /** How much of an answer each role sees. */
  readonly answers: AnswersConfig;
}

const DEFAULT_NAME = '<policy>';

/**
 * Validates a policy object (as parsed from YAML, or built in code) and compiles it. Throws
 * ConfigFileError listing every problem as `<file> <path>: <reason>` (no line numbers: use
 * parsePolicyText for text).
 */
export function compilePolicy(policy: Policy | PolicyInput, options: { file?: string; digest?: string } = {}): CompiledPolicy {
  const result = policySchema.safeParse(policy);
  if (!result.success) {
    const file = options.file ?? DEFAULT_NAME;
    throw new ConfigFileError(
      file,
      result.error.issues.map((i) => `${file} ${i.path.length > 0 ? i.path.map(String).join('.') : '(top level)'}: ${i.message}`),
    );
  }
  return compileValidated(result.data, options.file ?? null, options.digest ?? null);
}

/**
 * Parses and validates policy YAML and compiles it. Throws ConfigFileError with every problem
 * as `file:line:col path: reason`, shape and cross-reference problems alike.
 */
export function parsePolicyText(text: string, file: string): CompiledPolicy {
  const policy = parseYamlWithSchema(text, file, policySchema);
  return compileValidated(policy, file, policyDigest(text));
}

export function policyDigest(text: string | Buffer): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

function compileValidated(policy: Policy, file: string | null, digest: string | null): CompiledPolicy {
  const grants = policy.grants.map((r, i) => compileRule('grant', r, i));
  const denies = policy.denies.map((r, i) => compileRule('deny', r, i));
  let anonymousMask = 0;
  for (const a of policy.anonymous.actions) {
    const m = actionPatternMask(a);
    if (!('error' in m)) anonymousMask |= m.mask;
  }
  const apiKeys = new Map<string, CompiledApiKey>();
  for (const k of policy.api_keys) {
    const entry: ApiKeyEntry = Object.freeze({
      id: k.id,
      owner: k.owner,
      roles: Object.freeze([...k.roles]),
      ...(k.description !== undefined ? { description: k.description } : {}),
      ...(k.expires !== undefined ? { expires: k.expires } : {}),
    });
    apiKeys.set(
      k.id,
      Object.freeze({
        entry,
        hash: Buffer.from(k.hash.slice('sha256:'.length), 'hex'),
        expiresAt: k.expires !== undefined ? Date.parse(k.expires) : null,
      }),
    );
  }
  return Object.freeze({
    source: deepFreeze(policy),
    file,
    digest,
    mode: policy.mode,
    roles: new Set(Object.keys(policy.roles)),
    grants: Object.freeze(grants),
    denies: Object.freeze(denies),
    grantIndex: indexRules(grants),
    denyIndex: indexRules(denies),
    anonymousMask,
    apiKeys,
    decoyKeyHash: randomBytes(32),
    // Role names come from tokens: look-ups by role must never reach Object.prototype
    // (a role named "constructor" or "toString" must find no limits, not a function).
    detectors: policy.detectors,
    answers: Object.freeze({ ...policy.answers, roles: Object.freeze(Object.assign(Object.create(null) as Record<string, AnswerDetail>, policy.answers.roles)) }),
    limits: Object.freeze({ ...policy.limits, roles: Object.freeze(Object.assign(Object.create(null) as Record<string, LimitSpec>, policy.limits.roles)) }),
  });
}

function compileRule(kind: 'grant' | 'deny', rule: PolicyRule, index: number): CompiledRule {
  const models = nameMatcher(rule.models);
  const versions = nameMatcher(rule.versions);
  const restricted = !models.any || !versions.any;
  return Object.freeze({
    kind,
    id: rule.id,
    name: `${kind}:${rule.id}`,
    index,
    anyPrincipal: rule.roles.includes('*'),
    roles: new Set(rule.roles.filter((r) => r !== '*')),
    principals: new Set(rule.principals),
    actionMask: ruleActionMask(rule.actions, { kind, models: !models.any, versions: !versions.any }),
    restricted,
    models,
    versions,
    when: rule.when ? compileCondition(rule.when) : null,
    unless: rule.unless ? compileCondition(rule.unless) : null,
    rule,
  });
}

function nameMatcher(patterns: readonly string[]): NameMatcher {
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  let any = false;
  for (const p of patterns) {
    if (p === '*') any = true;
    else if (p.includes('*')) globs.push(new RegExp(`^${p.split('*').map(escapeRegExp).join('.*')}$`));
    else exact.add(p);
  }
  return Object.freeze({ any, exact, globs: Object.freeze(globs), text: Object.freeze([...patterns]) });
}

export function nameMatches(m: NameMatcher, name: string): boolean {
  if (m.any || m.exact.has(name)) return true;
  for (const g of m.globs) if (g.test(name)) return true;
  return false;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

function compileCondition(c: Condition): CompiledCondition {
  const cidrs = c.source_cidrs
    ? c.source_cidrs.map((t) => {
        const parsed = parseCidr(t);
        if ('error' in parsed) throw new Error(`unreachable: ${parsed.error}`);
        return parsed;
      })
    : null;
  const hours = c.hours_utc ? { from: parseClock(c.hours_utc.from)! % 1440, to: parseClock(c.hours_utc.to)! % 1440, text: `${c.hours_utc.from}–${c.hours_utc.to} UTC` } : null;
  return Object.freeze({ cidrs: cidrs ? Object.freeze(cidrs) : null, hours, source: c });
}

function indexRules(rules: CompiledRule[]): RuleIndex {
  const anyone: CompiledRule[] = [];
  const byRole = new Map<string, CompiledRule[]>();
  const byPrincipal = new Map<string, CompiledRule[]>();
  const add = (map: Map<string, CompiledRule[]>, key: string, r: CompiledRule) => {
    const list = map.get(key);
    if (list) {
      if (list[list.length - 1] !== r) list.push(r);
    } else map.set(key, [r]);
  };
  for (const r of rules) {
    if (r.anyPrincipal) {
      anyone.push(r);
      continue;
    }
    for (const role of r.roles) add(byRole, role, r);
    for (const p of r.principals) add(byPrincipal, p, r);
  }
  return Object.freeze({ anyone, byRole, byPrincipal });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
