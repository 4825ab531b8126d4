import { BUNDLED_POLICY_FILE, loadPolicyFile } from '../../../policies/src/policy-store.js';
import { policyWarnings, summarizePolicy } from '../../../policies/src/summary.js';
import { ConfigFileError } from '../../../oip/src/yaml-with-schema.js';

/**
 * `vigil policy check [file]`: validate a policy file (default: the bundled one) and print a
 * summary and warnings, or every problem as `file:line:col path: reason`. Exit 0 if valid, 1 if not.
 */
export async function policyCheckCommand(file: string | undefined, opts: { json?: boolean } = {}): Promise<number> {
  const path = file ?? BUNDLED_POLICY_FILE;
  let policy;
  try {
    policy = await loadPolicyFile(path);
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: false, file: err.file, problems: err.problems }, null, 2)}\n`);
    else process.stderr.write(`${err.message}\n`);
    return 1;
  }
  const s = summarizePolicy(policy);
  const warnings = policyWarnings(policy, Date.now());
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, ...s, warnings }, null, 2)}\n`);
    return 0;
  }
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  const lines = [
    `ok: ${s.file} (${s.digest})`,
    `  mode ${s.mode}; anonymous callers may: ${s.anonymous.join(', ') || 'nothing'}`,
    `  ${n(s.roles.length, 'role')}: ${s.roles.join(', ') || '-'}`,
    `  ${n(s.grants.length, 'grant')}: ${s.grants.join(', ') || '-'}`,
    `  ${n(s.denies.length, 'deny', 'denies')}: ${s.denies.join(', ') || '-'}`,
    `  ${n(s.apiKeys.length, 'API key')}: ${s.apiKeys.map((k) => `${k.id} (${k.owner}; ${k.roles.join(', ') || 'no roles'}${k.expires ? `; expires ${k.expires}` : ''})`).join(', ') || '-'}`,
    `  limits ${s.limits.mode}, ${s.limits.on_store_failure}; roles with limits: ${s.limits.roles.join(', ') || '-'}`,
    ...warnings.map((w) => `warning: ${w}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
