/**
 * The actions a policy can allow or deny, and the patterns rules name them by.
 *
 * The gateway maps each route to one action: `POST …/infer` → `infer`; `GET /v2/models/{m}` and
 * `…/ready` → `metadata`; `/v2/health/live`, `/v2/health/ready` and `GET /v2` → `health`; the admin
 * port's `/status` → `admin:status`, a policy reload → `admin:reload`, restarting a pool →
 * `admin:pools`; reading the audit log → `audit:read`; loading, unloading, promoting or rolling
 * back a model (the repository extension) → `admin:models`, which a rule may limit to some models.
 */
export const ACTIONS = ['infer', 'metadata', 'health', 'admin:status', 'admin:reload', 'admin:pools', 'audit:read', 'admin:models'] as const;
export type PolicyAction = (typeof ACTIONS)[number];

/** Actions addressed to a model: only these are constrained by a rule's `models` and `versions`. */
export const MODEL_ACTIONS: readonly PolicyAction[] = ['infer', 'metadata', 'admin:models'];

const BIT = new Map<string, number>(ACTIONS.map((a, i) => [a, 1 << i]));
const ALL = (1 << ACTIONS.length) - 1;
const MODEL_MASK = MODEL_ACTIONS.reduce((m, a) => m | BIT.get(a)!, 0);

/** Namespaces that `<namespace>:*` may name. */
const NAMESPACES = [...new Set(ACTIONS.filter((a) => a.includes(':')).map((a) => a.split(':')[0]))];

export function isAction(value: string): value is PolicyAction {
  return BIT.has(value);
}

/** The action's bit in an action mask, or undefined for an unknown action. */
export function actionBit(action: string): number | undefined {
  return BIT.get(action);
}

export function isModelAction(action: PolicyAction): boolean {
  return (BIT.get(action)! & MODEL_MASK) !== 0;
}

/**
 * The mask of actions a pattern covers: an exact action, `*` (every action) or `<namespace>:*`
 * (`admin:*`, `audit:*`). Returns null, with the reason, for anything else.
 */
export function actionPatternMask(pattern: string): { mask: number; wildcard: boolean } | { error: string } {
  if (pattern === '*') return { mask: ALL, wildcard: true };
  const bit = BIT.get(pattern);
  if (bit !== undefined) return { mask: bit, wildcard: false };
  if (pattern.endsWith(':*')) {
    const ns = pattern.slice(0, -2);
    if (NAMESPACES.includes(ns)) {
      return { mask: ACTIONS.filter((a) => a.startsWith(`${ns}:`)).reduce((m, a) => m | BIT.get(a)!, 0), wildcard: true };
    }
  }
  return { error: `unknown action ${JSON.stringify(pattern)}; use one of ${ACTIONS.join(', ')}, "*" or ${NAMESPACES.map((n) => `"${n}:*"`).join(', ')}` };
}

/** The client's model actions: what a wildcard keeps in a grant limited to some models. */
const CLIENT_MODEL_MASK = MODEL_MASK & ~BIT.get('admin:models')!;

/**
 * The mask a rule's `actions` cover. A wildcard (`*`, `admin:*`) in a rule limited to some models
 * or versions keeps only model actions, and which depends on the rule:
 * - a grant keeps infer and metadata: "everything on fraud-*" never means admin rights, loading
 *   and unloading those models included (name `admin:models` to grant that);
 * - a deny keeps every model action, `admin:models` too: "nothing on prod-*" also freezes them;
 * - a rule limited to versions never covers `admin:models`, which acts on a whole model.
 * Actions named explicitly still count.
 */
export function ruleActionMask(patterns: readonly string[], restriction: { kind: 'grant' | 'deny'; models: boolean; versions: boolean }): number {
  const restricted = restriction.models || restriction.versions;
  const keep = restriction.kind === 'deny' && !restriction.versions ? MODEL_MASK : CLIENT_MODEL_MASK;
  let mask = 0;
  for (const p of patterns) {
    const m = actionPatternMask(p);
    if ('error' in m) continue;
    mask |= m.wildcard && restricted ? m.mask & keep : m.mask;
  }
  return mask;
}

export function actionsInMask(mask: number): PolicyAction[] {
  return ACTIONS.filter((a) => (mask & BIT.get(a)!) !== 0);
}

export const ALL_ACTIONS_MASK = ALL;
export const MODEL_ACTIONS_MASK = MODEL_MASK;
