import { ACTIONS, isAction } from '../../../policies/src/actions.js';
import type { CompiledPolicy } from '../../../policies/src/compile-policy.js';
import { explain, type Explanation, type PolicyPrincipal } from '../../../policies/src/evaluate.js';
import { BUNDLED_POLICY_FILE, loadPolicyFile } from '../../../policies/src/policy-store.js';
import { ConfigFileError } from '../../../oip/src/yaml-with-schema.js';

export interface PolicyExplainOptions {
  /** Policy file; default: the bundled one. */
  file?: string;
  /** A JWT subject: the principal is `user:<sub>` (kept as is if it already has a `kind:` prefix). */
  sub?: string;
  /** Roles of that principal: a list, or comma-separated. */
  roles?: string[] | string;
  action: string;
  model?: string;
  version?: string;
  /** Client address; default 127.0.0.1. */
  source?: string;
  /** ISO 8601 time of the request; default now. */
  time?: string;
  /** Ask as this API key of the policy: principal `key:<id>` with the key's roles. */
  apiKeyId?: string;
  json?: boolean;
}

/**
 * `vigil policy explain`: what the policy decides for one request, which rule decided, and for
 * every rule why it matched or not. No --sub, --roles or --api-key-id: an anonymous caller.
 * Exit 0 if allowed, 2 if denied (in either mode), 1 if the policy or the arguments are invalid.
 */
export async function policyExplainCommand(opts: PolicyExplainOptions): Promise<number> {
  const fail = (message: string) => {
    process.stderr.write(`vigil policy explain: ${message}\n`);
    return 1;
  };
  let policy: CompiledPolicy;
  try {
    policy = await loadPolicyFile(opts.file ?? BUNDLED_POLICY_FILE);
  } catch (err) {
    if (err instanceof ConfigFileError) return fail(err.message);
    throw err;
  }
  if (!isAction(opts.action)) return fail(`unknown action ${JSON.stringify(opts.action)}; one of ${ACTIONS.join(', ')}`);
  const time = opts.time === undefined ? Date.now() : Date.parse(opts.time);
  if (Number.isNaN(time)) return fail(`--time ${JSON.stringify(opts.time)} is not an ISO 8601 date-time (e.g. 2026-05-01T09:30:00Z)`);
  const roles = (Array.isArray(opts.roles) ? opts.roles : (opts.roles ?? '').split(','))
    .map((r) => r.trim())
    .filter((r) => r !== '');
  const notes: string[] = [];

  let principal: PolicyPrincipal;
  if (opts.apiKeyId !== undefined) {
    if (opts.sub !== undefined || roles.length > 0) return fail('--api-key-id takes the principal and its roles from the policy; drop --sub and --roles');
    const key = policy.apiKeys.get(opts.apiKeyId);
    if (!key) return fail(`the policy has no API key ${JSON.stringify(opts.apiKeyId)} (it has: ${[...policy.apiKeys.keys()].join(', ') || 'none'})`);
    principal = { id: `key:${key.entry.id}`, method: 'api_key', roles: [...key.entry.roles] };
    if (key.expiresAt !== null && time >= key.expiresAt) {
      notes.push(`API key ${key.entry.id} expired at ${key.entry.expires}: authentication would refuse it (API_KEY_EXPIRED) before the policy is asked`);
    }
  } else if (opts.sub !== undefined || roles.length > 0) {
    const sub = opts.sub ?? 'someone';
    principal = { id: /^[a-z]+:/.test(sub) ? sub : `user:${sub}`, method: 'jwt', roles };
    for (const r of roles) if (!policy.roles.has(r)) notes.push(`role ${r} is not defined in the policy: it grants nothing`);
  } else {
    principal = { id: 'anonymous', method: 'anonymous', roles: [] };
  }
  if ((opts.action === 'infer' || opts.action === 'metadata') && opts.model === undefined) {
    notes.push(`${opts.action} is about a model and none was given (--model): rules limited to some models will not match`);
  }

  const source = opts.source ?? '127.0.0.1';
  const result = explain(policy, { principal, action: opts.action, model: opts.model, version: opts.version, source, time });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ policy: { file: policy.file, digest: policy.digest }, ...result, notes }, null, 2)}\n`);
  } else {
    process.stdout.write(render(policy, result, notes, opts.source === undefined));
  }
  return result.decision.allowed ? 0 : 2;
}

function render(policy: CompiledPolicy, r: Explanation, notes: string[], defaultSource: boolean): string {
  const { decision: d, request: q } = r;
  const p = q.principal;
  const target = q.model === null ? q.action : `${q.action} on ${q.model}${q.version !== null ? ` version ${q.version}` : ''}`;
  const verdict = d.allowed ? 'ALLOW' : d.mode === 'shadow' ? 'DENY (shadow mode: recorded, not enforced)' : 'DENY';
  const width = Math.max(...r.trace.map((t) => t.rule.length));
  const lines = [
    `policy:   ${policy.file} (${policy.digest})`,
    `request:  ${p.method === 'anonymous' ? 'anonymous' : `${p.id} (${p.method}, roles: ${p.roles.join(', ') || 'none'})`} → ${target}`,
    `          from ${q.source}${defaultSource ? ' (default)' : ''} at ${q.time}`,
    `decision: ${verdict} by ${d.rule}`,
    `          ${d.reason}`,
    ...notes.map((n) => `note:     ${n}`),
    'trace (in evaluation order):',
    ...r.trace.map((t) => `  ${t.decided ? '=>' : '  '} ${t.matched ? 'match' : '  -  '}  ${t.rule.padEnd(width)}  ${t.why}`),
  ];
  return `${lines.join('\n')}\n`;
}
