import { z } from 'zod';
import { DETECTOR_REGISTRY, type DetectorName } from '../../detectors/src/registry.js';
import { NAME_PATTERN } from '../../oip/src/names.js';
import { actionPatternMask, ruleActionMask } from './actions.js';
import { parseCidr } from './cidr.js';
import { parseClock } from './hours.js';

/** What an API key's id may hold: it is part of the key (`vk.<id>.<secret>`), so no dots. */
export const API_KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * The policy file's schema: shape, defaults, and every check that needs no other part of the
 * file (CIDRs, clock times, actions, hashes) on the field itself, so a problem is reported at its
 * own line. Checks across the file (roles that exist, unique ids) run in `crossReferences`,
 * also with the path of the offending node, and run even when other parts of the file are
 * malformed, so one `vigil policy check` lists every problem.
 *
 * The schema has no transforms other than turning YAML numbers into names (`versions: [1]`), so
 * its output parses again to itself.
 */

export const ROLE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
export const RULE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const MODEL_PATTERN_CHARS = /^[A-Za-z0-9_.*-]{1,128}$/;
export const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
const DATETIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$/;

function custom<T extends z.ZodType>(schema: T, check: (v: z.output<T>) => string | null): T {
  return schema.superRefine((v, ctx) => {
    const problem = check(v as z.output<T>);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }) as unknown as T;
}

const nameLike = z.union([z.string(), z.number().int().min(0)]).transform((v) => String(v));

const actionPattern = custom(z.string(), (v) => {
  const m = actionPatternMask(v);
  return 'error' in m ? m.error : null;
});

const roleRef = custom(z.string(), (v) =>
  v === '*' || ROLE_PATTERN.test(v) ? null : 'must be a role name (letters, digits, _ . : -) or "*" for every principal',
);

const principalRef = custom(z.string(), (v) =>
  /^[^\s]{1,256}$/.test(v) ? null : 'must be a principal id such as "user:alice" or "key:ci-bot" (no spaces)',
);

const modelPattern = nameLike.pipe(
  custom(z.string(), (v) =>
    v === '*' || (MODEL_PATTERN_CHARS.test(v) && NAME_PATTERN.test(v.replaceAll('*', 'x')))
      ? null
      : 'must be a model name or a glob with * (e.g. "fraud-*")',
  ),
);

const versionPattern = nameLike.pipe(
  custom(z.string(), (v) => (v === '*' || NAME_PATTERN.test(v) ? null : 'must be a version (e.g. "1") or "*"')),
);

const cidr = custom(z.string(), (v) => {
  const c = parseCidr(v);
  return 'error' in c ? c.error : null;
});

const clock = custom(z.string(), (v) => (parseClock(v) === null ? 'must be a UTC time "HH:MM" between 00:00 and 24:00' : null));

const hoursUtc = custom(z.object({ from: clock, to: clock }).strict(), (v) => {
  const from = parseClock(v.from);
  const to = parseClock(v.to);
  if (from === null || to === null) return null;
  if (from % 1440 === to % 1440) return `from and to are the same time (${v.from}): the window would be empty or the whole day; drop hours_utc for the whole day`;
  return null;
});

export const conditionSchema = z
  .object({
    /** The source address must be in one of these blocks (IPv4 and IPv6). */
    source_cidrs: z.array(cidr).min(1, 'list at least one CIDR block, or drop source_cidrs').optional(),
    /** The request time (UTC) must be in [from, to); from after to wraps midnight. */
    hours_utc: hoursUtc.optional(),
  })
  .strict();

const ruleShape = {
  id: custom(z.string(), (v) => (RULE_ID_PATTERN.test(v) ? null : 'must be an id of letters, digits, _ . - (at most 128)')),
  description: z.string().optional(),
  /** Roles this rule applies to; "*" applies it to every principal. */
  roles: z.array(roleRef).default([]),
  /** Principal ids this rule applies to, whatever their roles ("user:alice", "key:ci-bot"). */
  principals: z.array(principalRef).default([]),
  actions: z.array(actionPattern).min(1, 'list at least one action'),
  models: z.array(modelPattern).min(1, 'list at least one model, or "*"').default(['*']),
  versions: z.array(versionPattern).min(1, 'list at least one version, or "*"').default(['*']),
  /** The rule applies only when every condition here holds. */
  when: conditionSchema.optional(),
  /** The rule does not apply when every condition here holds. */
  unless: conditionSchema.optional(),
};

export const grantSchema = z.object(ruleShape).strict();
export const denySchema = z.object(ruleShape).strict();

const datetime = custom(z.string(), (v) =>
  DATETIME.test(v) && !Number.isNaN(Date.parse(v)) ? null : 'must be an ISO 8601 date-time with a time zone, e.g. "2027-06-30T00:00:00Z"',
);

export const apiKeySchema = z
  .object({
    id: custom(z.string(), (v) => (API_KEY_ID_PATTERN.test(v) ? null : 'must be an id of letters, digits, _ - (at most 64; no dots)')),
    /** Who is responsible for this key (a team, a service owner). */
    owner: z.string().min(1, 'name who owns this key'),
    description: z.string().optional(),
    roles: z.array(custom(z.string(), (v) => (ROLE_PATTERN.test(v) ? null : 'must be a role name'))).default([]),
    hash: custom(z.string(), (v) =>
      HASH_PATTERN.test(v) ? null : 'must be "sha256:" followed by 64 lowercase hex digits (what `vigil apikey create` prints); never the key itself',
    ),
    expires: datetime.optional(),
  })
  .strict();

const perMinute = z.number().int().min(1);

export const limitSpecSchema = z
  .object({
    requests_per_minute: perMinute.optional(),
    /** Inference items (batch rows) per minute, across models. */
    items_per_minute: perMinute.optional(),
    /** Inference items per minute on any one model. */
    model_items_per_minute: perMinute.optional(),
    /** Requests in flight at once. */
    concurrency: z.number().int().min(1).optional(),
  })
  .strict();

export const limitsSchema = z
  .object({
    mode: z.enum(['enforce', 'shadow']).default('enforce'),
    /** When a state store fails (rate limits and slots, and also quarantines, auth-failure counters and extraction state): refuse with 503, or go on without the check. */
    on_store_failure: z.enum(['fail_closed', 'fail_open']).default('fail_closed'),
    /** For authenticated principals none of whose roles is listed under roles. */
    default: limitSpecSchema.default({ requests_per_minute: 120, items_per_minute: 2000, concurrency: 4 }),
    /** For anonymous callers, per source address. */
    anonymous: limitSpecSchema.default({ requests_per_minute: 600, concurrency: 32 }),
    roles: z.record(z.string(), limitSpecSchema).default({}),
  })
  .strict();

const detectorAction = (action: 'allow' | 'flag' | 'block' | 'quarantine') =>
  z
    .object({
      /** enforce: the action applies. shadow: the finding is recorded (with what would have happened), nothing is refused. */
      mode: z.enum(['enforce', 'shadow']).default('enforce'),
      /** What an anomalous verdict does: allow (record only), flag (record, count, feed alerts), block the request, or quarantine the principal. */
      action: z.enum(['allow', 'flag', 'block', 'quarantine']).default(action),
      /**
       * block and quarantine act only on a finding with at least this many anomalous rows, and at
       * least this share of the request's rows; below that the finding is flagged. Findings that
       * do not count rows (structural, extraction) always meet them.
       */
      min_rows: z.number().int().min(1).default(1),
      min_fraction: z.number().min(0).max(1).default(0),
    })
    .strict()
    .prefault({});

/** What each detector's anomalous verdict does. Which detectors run, and their thresholds, is each model's config. */
export const detectorActionsSchema = z
  .object({
    // One entry per registered detector, defaulting to its defaultAction.
    ...(Object.fromEntries(DETECTOR_REGISTRY.map((d) => [d.name, detectorAction(d.defaultAction)])) as Record<DetectorName, ReturnType<typeof detectorAction>>),
    /** How long a quarantined principal is refused. */
    quarantine_seconds: z.number().int().min(1).max(7 * 86400).default(600),
  })
  .strict();

const answerDetail = z
  .object({
    /**
     * full: the model's outputs as they are. rounded: floating-point values rounded to `decimals`.
     * top1: each floating-point output of shape [rows, classes] becomes one-hot on its largest value
     * per row: the predicted class, nothing of the confidences an extractor learns most from.
     */
    detail: z.enum(['full', 'rounded', 'top1']).default('full'),
    decimals: z.number().int().min(0).max(6).default(2),
  })
  .strict();

/** How much of a model's answer each role sees (less information for an extractor to learn from). */
export const answersSchema = z
  .object({
    /** Callers with none of the roles below. */
    default: answerDetail.prefault({}),
    roles: z.record(z.string(), answerDetail).default({}),
  })
  .strict();

export type AnswerDetail = z.output<typeof answerDetail>;
export type AnswersConfig = z.output<typeof answersSchema>;

export const policySchema = z
  .object({
    version: z.literal(1, 'must be 1'),
    /** enforce: a denial refuses the request. shadow: decide and record, never refuse. */
    mode: z.enum(['enforce', 'shadow']).default('enforce'),
    anonymous: z
      .object({ actions: z.array(actionPattern).default(['health']) })
      .strict()
      .prefault({}),
    /** Every role rules, keys and limits may name, with what it is for. */
    roles: z.record(z.string(), z.string('describe the role in a few words')),
    grants: z.array(grantSchema).default([]),
    denies: z.array(denySchema).default([]),
    api_keys: z.array(apiKeySchema).default([]),
    limits: limitsSchema.prefault({}),
    detectors: detectorActionsSchema.prefault({}),
    answers: answersSchema.prefault({}),
  })
  .strict()
  .superRefine((value, ctx) => crossReferences(value, (path, message) => ctx.addIssue({ code: 'custom', path, message })), {
    when: () => true,
  });

export type Policy = z.output<typeof policySchema>;
/** A policy as written (before defaults), e.g. for building one in code. */
export type PolicyInput = z.input<typeof policySchema>;
export type GrantRule = z.output<typeof grantSchema>;
export type DenyRule = z.output<typeof denySchema>;
export type PolicyRule = GrantRule | DenyRule;
export type Condition = z.output<typeof conditionSchema>;
export type ApiKeyConfig = z.output<typeof apiKeySchema>;
export type LimitSpec = z.output<typeof limitSpecSchema>;
export type LimitsConfig = z.output<typeof limitsSchema>;
export type PolicyMode = Policy['mode'];
export type DetectorActions = z.output<typeof detectorActionsSchema>;

type Report = (path: (string | number)[], message: string) => void;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Checks across the file. Written against `unknown` on purpose: it runs even when other parts of
 * the document failed their shape, so it must not trust any of it.
 */
function crossReferences(doc: unknown, report: Report): void {
  if (!isObject(doc)) return;
  const rolesNode = doc.roles;
  const roles = new Set<string>();
  if (isObject(rolesNode)) {
    for (const name of Object.keys(rolesNode)) {
      if (!ROLE_PATTERN.test(name)) report(['roles', name], `role name ${JSON.stringify(name)} must be letters, digits, _ . : - (at most 64)`);
      roles.add(name);
    }
  }
  const known = [...roles].join(', ') || '(none defined)';
  const checkRole = (path: (string | number)[], role: unknown, allowStar: boolean) => {
    if (typeof role !== 'string') return;
    if (role === '*') {
      if (!allowStar && (path[0] === 'limits' || path[0] === 'answers')) report(path, '"*" is not a role here; name the roles');
      return;
    }
    if (!roles.has(role)) report(path, `unknown role ${JSON.stringify(role)}; define it under roles: (defined: ${known})`);
  };

  const ruleIds = new Map<string, string>();
  for (const kind of ['grants', 'denies'] as const) {
    asArray(doc[kind]).forEach((rule, i) => {
      if (!isObject(rule)) return;
      const here = `${kind}[${i}]`;
      if (typeof rule.id === 'string') {
        const before = ruleIds.get(rule.id);
        if (before) report([kind, i, 'id'], `duplicate rule id ${JSON.stringify(rule.id)} (also ${before}); rule ids are unique across grants and denies`);
        else ruleIds.set(rule.id, here);
      }
      const ruleRoles = asArray(rule.roles);
      const principals = asArray(rule.principals);
      ruleRoles.forEach((r, j) => checkRole([kind, i, 'roles', j], r, true));
      if (ruleRoles.length === 0 && principals.length === 0) {
        report([kind, i], 'the rule names no roles and no principals, so it would never apply; add roles: or principals:');
      }
      if (kind === 'grants') {
        principals.forEach((p, j) => {
          if (p === 'anonymous') report([kind, i, 'principals', j], 'grants never apply to anonymous callers; list what they may do under anonymous.actions');
        });
      }
      const actions = asArray(rule.actions).filter((a): a is string => typeof a === 'string');
      const restriction = { kind: kind === 'grants' ? ('grant' as const) : ('deny' as const), models: isRestricted(rule.models), versions: isRestricted(rule.versions) };
      if (restriction.versions && actions.includes('admin:models')) {
        report([kind, i, 'versions'], 'admin:models (load, unload, promote, rollback) acts on a whole model: a rule that names it cannot be limited to versions');
      } else if (actions.length > 0 && actions.every((a) => !('error' in actionPatternMask(a))) && ruleActionMask(actions, restriction) === 0) {
        report(
          [kind, i, 'actions'],
          'in a rule limited to some models or versions, a wildcard covers only model actions, so this rule covers no action; name model-less actions explicitly, or drop models/versions',
        );
      }
    });
  }

  const keyIds = new Map<string, number>();
  const keyHashes = new Map<string, number>();
  asArray(doc.api_keys).forEach((key, i) => {
    if (!isObject(key)) return;
    if (typeof key.id === 'string') {
      const before = keyIds.get(key.id);
      if (before !== undefined) report(['api_keys', i, 'id'], `duplicate API key id ${JSON.stringify(key.id)} (also api_keys[${before}])`);
      else keyIds.set(key.id, i);
    }
    if (typeof key.hash === 'string') {
      const before = keyHashes.get(key.hash);
      if (before !== undefined) report(['api_keys', i, 'hash'], `the same hash as api_keys[${before}]: one key must not be two entries`);
      else keyHashes.set(key.hash, i);
    }
    asArray(key.roles).forEach((r, j) => checkRole(['api_keys', i, 'roles', j], r, false));
  });

  for (const section of ['limits', 'answers'] as const) {
    const node = doc[section];
    if (isObject(node) && isObject(node.roles)) for (const role of Object.keys(node.roles)) checkRole([section, 'roles', role], role, false);
  }
}

function isRestricted(patterns: unknown): boolean {
  if (patterns === undefined) return false;
  return !asArray(patterns).some((p) => p === '*');
}
