import { actionsInMask, MODEL_ACTIONS_MASK } from './actions.js';
import type { CompiledPolicy } from './compile-policy.js';

export interface PolicySummary {
  file: string | null;
  digest: string | null;
  mode: string;
  roles: string[];
  grants: string[];
  denies: string[];
  apiKeys: { id: string; owner: string; roles: string[]; expires: string | null }[];
  anonymous: string[];
  limits: { mode: string; on_store_failure: string; roles: string[] };
}

export function summarizePolicy(p: CompiledPolicy): PolicySummary {
  return {
    file: p.file,
    digest: p.digest,
    mode: p.mode,
    roles: [...p.roles],
    grants: p.grants.map((r) => r.id),
    denies: p.denies.map((r) => r.id),
    apiKeys: [...p.apiKeys.values()].map((k) => ({ id: k.entry.id, owner: k.entry.owner, roles: [...k.entry.roles], expires: k.entry.expires ?? null })),
    anonymous: actionsInMask(p.anonymousMask),
    limits: { mode: p.limits.mode, on_store_failure: p.limits.on_store_failure, roles: Object.keys(p.limits.roles) },
  };
}

/**
 * Things a valid policy may still get wrong, for `vigil policy check` to point out. Not errors:
 * each can be intended.
 */
export function policyWarnings(p: CompiledPolicy, now: number): string[] {
  const out: string[] = [];
  if (p.mode === 'shadow') out.push('mode is shadow: denials are recorded but nothing is refused');
  if (p.limits.mode === 'shadow') out.push('limits.mode is shadow: rate limits are recorded but nothing is limited');
  if (p.limits.on_store_failure === 'fail_open') out.push('limits.on_store_failure is fail_open: if a state store fails (Redis away), nothing is limited and quarantines, auth-failure blocks and extraction checks are skipped');
  const openToAnonymous = actionsInMask(p.anonymousMask).filter((a) => a !== 'health');
  if (openToAnonymous.length > 0) out.push(`anonymous callers may ${openToAnonymous.join(', ')}`);
  if ((p.anonymousMask & MODEL_ACTIONS_MASK) !== 0) out.push('anonymous callers may reach models: rate limits per source address are then all that protects them');
  for (const g of p.grants) {
    if (g.anyPrincipal) out.push(`grant ${g.id} applies to every authenticated principal (roles: ["*"])`);
  }
  const granted = new Set(p.grants.flatMap((g) => [...g.roles]));
  for (const role of p.roles) {
    if (!granted.has(role) && !p.grants.some((g) => g.anyPrincipal)) out.push(`role ${role} is in no grant: it allows nothing`);
  }
  const soon = 14 * 24 * 3600 * 1000;
  for (const k of p.apiKeys.values()) {
    if (k.expiresAt === null) continue;
    if (k.expiresAt <= now) out.push(`API key ${k.entry.id} expired at ${k.entry.expires}`);
    else if (k.expiresAt - now < soon) out.push(`API key ${k.entry.id} expires at ${k.entry.expires} (within 14 days)`);
  }
  return out;
}
