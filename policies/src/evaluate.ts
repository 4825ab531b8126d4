import { actionBit, actionsInMask, MODEL_ACTIONS_MASK } from './actions.js';
import { cidrContains, parseAddress, type ParsedAddress } from './cidr.js';
import { nameMatches, type CompiledCondition, type CompiledPolicy, type CompiledRule, type RuleIndex } from './compile-policy.js';
import { formatClock, inWindow, minuteOfDayUtc } from './hours.js';
import type { PolicyMode } from './policy-schema.js';

/**
 * Who is asking. The gateway's `Principal` (gateway/src/auth/principal.ts) fits this shape.
 * Identity is `method` (anonymous or not), `id` and `roles`; nothing else is read.
 */
export interface PolicyPrincipal {
  readonly id: string;
  readonly method: 'jwt' | 'api_key' | 'anonymous';
  readonly roles: readonly string[];
}

export interface PolicyRequest {
  readonly principal: PolicyPrincipal;
  /** One of ACTIONS (actions.ts); anything else is denied by default. */
  readonly action: string;
  /** For infer and metadata: the model addressed. */
  readonly model?: string;
  /** The version addressed, when the request names one (or the gateway resolved it). */
  readonly version?: string;
  /** The client address as the socket reports it (IPv4, IPv6 or IPv4-mapped IPv6). */
  readonly source?: string | null;
  /** When the request arrived: ms since the epoch or a Date. The engine never reads a clock. */
  readonly time: number | Date;
}

export interface Decision {
  readonly allowed: boolean;
  /** What decided: `deny:<id>`, `grant:<id>`, `anonymous` or `default-deny`. */
  readonly rule: string;
  /** For the audit log and `vigil policy explain`; may name roles, models and addresses, never credentials. */
  readonly reason: string;
  /** The policy's authorization mode: in `shadow` the gateway records a denial but lets the request through. */
  readonly mode: PolicyMode;
}

/** Why a rule did not apply, checked in this order. */
type Outcome = 'match' | 'principal' | 'action' | 'model' | 'version' | 'when' | 'unless';

/** Per-request facts computed at most once, and only if a rule's condition needs them. */
class Facts {
  private addr: ParsedAddress | null | undefined;
  private minute = -1;
  constructor(readonly req: PolicyRequest) {}
  address(): ParsedAddress | null {
    if (this.addr === undefined) this.addr = parseAddress(this.req.source);
    return this.addr;
  }
  minuteOfDay(): number {
    if (this.minute < 0) this.minute = minuteOfDayUtc(typeof this.req.time === 'number' ? this.req.time : this.req.time.getTime());
    return this.minute;
  }
}

function conditionHolds(c: CompiledCondition, facts: Facts): boolean {
  if (c.cidrs) {
    const addr = facts.address();
    if (addr === null) return false;
    let inside = false;
    for (const cidr of c.cidrs) {
      if (cidrContains(cidr, addr)) {
        inside = true;
        break;
      }
    }
    if (!inside) return false;
  }
  if (c.hours && !inWindow(facts.minuteOfDay(), c.hours.from, c.hours.to)) return false;
  return true;
}

function principalMatches(rule: CompiledRule, p: PolicyPrincipal): boolean {
  if (rule.anyPrincipal || rule.principals.has(p.id)) return true;
  for (const r of p.roles) if (rule.roles.has(r)) return true;
  return false;
}

/** Everything but the principal (evaluation reaches a rule through the principal's index). */
function matchRest(rule: CompiledRule, bit: number, req: PolicyRequest, facts: Facts): Outcome {
  if ((rule.actionMask & bit) === 0) return 'action';
  if ((bit & MODEL_ACTIONS_MASK) !== 0) {
    if (!rule.models.any && (req.model === undefined || !nameMatches(rule.models, req.model))) return 'model';
    if (!rule.versions.any && (req.version === undefined || !nameMatches(rule.versions, req.version))) return 'version';
  }
  if (rule.when && !conditionHolds(rule.when, facts)) return 'when';
  if (rule.unless && conditionHolds(rule.unless, facts)) return 'unless';
  return 'match';
}

/**
 * The lowest-index rule of `index` that applies to this request, visiting only the rules indexed
 * under the principal's id, its roles, and "*". Also the lowest-index rule that matched all but
 * its conditions (`closest`), for the reason of a default deny.
 */
function firstMatch(
  index: RuleIndex,
  p: PolicyPrincipal,
  bit: number,
  req: PolicyRequest,
  facts: Facts,
): { rule: CompiledRule | null; closest: CompiledRule | null; closestOutcome: Outcome | null } {
  let best: CompiledRule | null = null;
  let closest: CompiledRule | null = null;
  let closestOutcome: Outcome | null = null;
  const scan = (list: readonly CompiledRule[] | undefined) => {
    if (!list) return;
    for (const r of list) {
      if (best !== null && r.index >= best.index) return;
      const o = matchRest(r, bit, req, facts);
      if (o === 'match') {
        best = r;
        return;
      }
      if ((o === 'when' || o === 'unless') && (closest === null || r.index < closest.index)) {
        closest = r;
        closestOutcome = o;
      }
    }
  };
  scan(index.anyone);
  scan(index.byPrincipal.get(p.id));
  for (const role of p.roles) scan(index.byRole.get(role));
  return { rule: best, closest, closestOutcome };
}

/**
 * Decides whether a principal may perform an action. Pure: no I/O, no clock.
 *
 * 1. An unknown action is denied (`default-deny`).
 * 2. Explicit denies first: the first matching deny (file order) refuses, whatever any grant says.
 * 3. Anonymous callers get exactly `anonymous.actions`; grants never apply to them.
 * 4. Otherwise the first matching grant allows.
 * 5. What anonymous callers may do, authenticated ones may too (`anonymous`).
 * 6. Otherwise `default-deny`, naming the closest grant that failed only its conditions.
 *
 * A rule matches when it names the principal (a role of theirs, their id, or "*"), covers the
 * action, and, for model actions (infer, metadata), the model and version; its `when` holds and
 * its `unless` does not.
 */
export function evaluate(policy: CompiledPolicy, req: PolicyRequest): Decision {
  const { principal: p, action } = req;
  const mode = policy.mode;
  const bit = actionBit(action);
  if (bit === undefined) {
    return { allowed: false, rule: 'default-deny', reason: `unknown action ${JSON.stringify(action)}`, mode };
  }
  const facts = new Facts(req);
  const deny = firstMatch(policy.denyIndex, p, bit, req, facts).rule;
  if (deny) return { allowed: false, rule: deny.name, reason: denyReason(deny, req, facts), mode };

  if (p.method === 'anonymous') {
    if ((policy.anonymousMask & bit) !== 0) return { allowed: true, rule: 'anonymous', reason: `anonymous callers may ${action}`, mode };
    return {
      allowed: false,
      rule: 'default-deny',
      reason: `anonymous callers may only ${listOr(actionsInMask(policy.anonymousMask))}, not ${action}; authenticate`,
      mode,
    };
  }

  const grant = firstMatch(policy.grantIndex, p, bit, req, facts);
  if (grant.rule) return { allowed: true, rule: grant.rule.name, reason: grantReason(grant.rule, req), mode };
  if ((policy.anonymousMask & bit) !== 0) {
    return { allowed: true, rule: 'anonymous', reason: `${action} is open to every caller (anonymous.actions), so to ${p.id} too`, mode };
  }
  let reason = `no grant allows ${who(p)} to ${what(req)}`;
  if (grant.closest) {
    reason += `; closest: ${grant.closest.name}, but ${conditionText(grant.closest, grant.closestOutcome!, facts)}`;
  }
  return { allowed: false, rule: 'default-deny', reason, mode };
}

export interface TraceEntry {
  /** `deny:<id>`, `grant:<id>`, `anonymous` or `default-deny`. */
  readonly rule: string;
  readonly matched: boolean;
  /** This entry is the decision's rule. */
  readonly decided: boolean;
  readonly why: string;
}

export interface Explanation {
  readonly decision: Decision;
  readonly request: {
    readonly principal: PolicyPrincipal;
    readonly action: string;
    readonly model: string | null;
    readonly version: string | null;
    readonly source: string | null;
    readonly time: string;
  };
  /** Every rule in evaluation order (denies, then anonymous or grants), matched or not, and why. */
  readonly trace: readonly TraceEntry[];
}

/**
 * The decision (exactly what `evaluate` returns) and, for every rule of the policy, whether it
 * matched this request and why not. Slower than `evaluate`: for the CLI and for debugging.
 */
export function explain(policy: CompiledPolicy, req: PolicyRequest): Explanation {
  const decision = evaluate(policy, req);
  const p = req.principal;
  const facts = new Facts(req);
  const bit = actionBit(req.action);
  const trace: TraceEntry[] = [];
  let decided = false;
  const push = (rule: string, matched: boolean, why: string) => {
    const isIt = !decided && rule === decision.rule && (matched || rule === 'default-deny');
    if (isIt) decided = true;
    trace.push({ rule, matched, decided: isIt, why });
  };
  const timeIso = new Date(typeof req.time === 'number' ? req.time : req.time.getTime()).toISOString();
  const request = {
    principal: p,
    action: req.action,
    model: req.model ?? null,
    version: req.version ?? null,
    source: req.source ?? null,
    time: timeIso,
  };
  if (bit === undefined) {
    push('default-deny', true, decision.reason);
    return { decision, request, trace };
  }
  for (const r of policy.denies) {
    const { matched, why } = explainRule(r, bit, req, facts);
    push(r.name, matched, why);
  }
  const anonymousMatched = (policy.anonymousMask & bit) !== 0;
  const anonymousWhy = anonymousMatched
    ? `${req.action} is in anonymous.actions (${listAnd(actionsInMask(policy.anonymousMask))})`
    : `${req.action} is not in anonymous.actions (${listAnd(actionsInMask(policy.anonymousMask)) || 'none'})`;
  if (p.method === 'anonymous') {
    push('anonymous', anonymousMatched, anonymousWhy);
    for (const r of policy.grants) trace.push({ rule: r.name, matched: false, decided: false, why: 'grants never apply to anonymous callers' });
  } else {
    for (const r of policy.grants) {
      const { matched, why } = explainRule(r, bit, req, facts);
      push(r.name, matched, why);
    }
    push('anonymous', anonymousMatched, `${anonymousWhy}; what anonymous callers may do, authenticated ones may too`);
  }
  const byDefault = decision.rule === 'default-deny';
  push('default-deny', byDefault, byDefault ? decision.reason : 'not reached');
  return { decision, request, trace };
}

function explainRule(r: CompiledRule, bit: number, req: PolicyRequest, facts: Facts): { matched: boolean; why: string } {
  const p = req.principal;
  if (!principalMatches(r, p)) {
    const names = [...[...r.roles].map((x) => `role ${x}`), ...[...r.principals].map((x) => `principal ${x}`)];
    return { matched: false, why: `applies to ${listOr(names)}; ${p.method === 'anonymous' ? 'an anonymous caller' : who(p)} is none of them` };
  }
  const o = matchRest(r, bit, req, facts);
  switch (o) {
    case 'action': {
      const covered = listAnd(actionsInMask(r.actionMask)) || 'no action';
      const note = r.restricted && r.rule.actions.some((a) => a.includes('*')) ? (r.kind === 'grant' ? ' (a wildcard in a grant limited to some models covers infer and metadata only)' : ' (a wildcard in a deny limited to some models covers its model actions)') : '';
      return { matched: false, why: `covers ${covered}, not ${req.action}${note}` };
    }
    case 'model':
      return {
        matched: false,
        why: req.model === undefined ? `limited to models ${r.models.text.join(', ')}, and no model was given` : `limited to models ${r.models.text.join(', ')}; not ${req.model}`,
      };
    case 'version':
      return {
        matched: false,
        why:
          req.version === undefined
            ? `limited to versions ${r.versions.text.join(', ')}, and the request names no version`
            : `limited to versions ${r.versions.text.join(', ')}; not ${req.version}`,
      };
    case 'when':
    case 'unless':
      return { matched: false, why: conditionText(r, o, facts) };
    case 'match': {
      const parts = [`applies to ${matchedBy(r, p)}`, `covers ${req.action}`];
      if ((bit & MODEL_ACTIONS_MASK) !== 0) parts.push(`model ${req.model ?? '(none)'}${req.version ? ` version ${req.version}` : ''} in scope`);
      else if (r.restricted) parts.push(`${req.action} is not about a model, so models/versions are not checked`);
      if (r.when) parts.push(`when holds (${describeCondition(r.when, facts)})`);
      if (r.unless) parts.push(`unless does not hold (${describeCondition(r.unless, facts)})`);
      return { matched: true, why: parts.join('; ') };
    }
    default:
      return { matched: false, why: o };
  }
}

function conditionText(r: CompiledRule, o: Outcome, facts: Facts): string {
  if (o === 'when') return `its when-condition fails: ${describeCondition(r.when!, facts)}`;
  return `its unless-condition holds: ${describeCondition(r.unless!, facts)}`;
}

/** Each part of a condition with the request's value, e.g. "source 10.0.0.7 not in 127.0.0.0/8". */
function describeCondition(c: CompiledCondition, facts: Facts): string {
  const parts: string[] = [];
  if (c.cidrs) {
    const addr = facts.address();
    const blocks = c.cidrs.map((x) => x.text).join(', ');
    if (addr === null) parts.push(`source ${facts.req.source ? JSON.stringify(facts.req.source) : '(unknown)'} is not an IP address, so not in ${blocks}`);
    else parts.push(`source ${facts.req.source} ${c.cidrs.some((x) => cidrContains(x, addr)) ? 'in' : 'not in'} ${blocks}`);
  }
  if (c.hours) {
    const m = facts.minuteOfDay();
    parts.push(`time ${formatClock(m)} UTC ${inWindow(m, c.hours.from, c.hours.to) ? 'within' : 'outside'} ${c.hours.text}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'no conditions';
}

function denyReason(r: CompiledRule, req: PolicyRequest, facts: Facts): string {
  let reason = `explicit deny ${r.name} applies to ${matchedBy(r, req.principal)} for ${what(req)}`;
  if (r.when) reason += `; when: ${describeCondition(r.when, facts)}`;
  if (r.unless) reason += `; unless does not hold: ${describeCondition(r.unless, facts)}`;
  return reason;
}

function grantReason(r: CompiledRule, req: PolicyRequest): string {
  return `${r.name} allows ${matchedBy(r, req.principal)} to ${what(req)}`;
}

function matchedBy(r: CompiledRule, p: PolicyPrincipal): string {
  if (r.principals.has(p.id)) return `principal ${p.id}`;
  const role = p.roles.find((x) => r.roles.has(x));
  if (role !== undefined) return `${p.id} (role ${role})`;
  return `every principal (${p.id})`;
}

function who(p: PolicyPrincipal): string {
  return p.method === 'anonymous' ? 'anonymous callers' : `${p.id} (roles: ${p.roles.length > 0 ? p.roles.join(', ') : 'none'})`;
}

function what(req: PolicyRequest): string {
  const bit = actionBit(req.action) ?? 0;
  if ((bit & MODEL_ACTIONS_MASK) === 0) return req.action;
  return `${req.action} on ${req.model ?? '(no model)'}${req.version !== undefined ? ` version ${req.version}` : ''}`;
}

function listOr(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? 'nothing') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

function listAnd(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}
