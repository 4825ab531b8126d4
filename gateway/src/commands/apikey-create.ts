import { generateApiKey } from '../../../policies/src/api-keys.js';
import { loadPolicyFile } from '../../../policies/src/policy-store.js';
import { apiKeySchema } from '../../../policies/src/policy-schema.js';
import { ConfigFileError } from '../../../oip/src/yaml-with-schema.js';

export interface ApikeyCreateOptions {
  /** The key's id: letters, digits, _ and -; the principal will be `key:<id>`. */
  id: string;
  /** Who is responsible for the key. */
  owner: string;
  /** A list, or comma-separated. */
  roles: string[] | string;
  /** ISO 8601 date-time with a time zone, or a date (midnight UTC). */
  expires?: string;
  /** A policy file to check the roles and id against (recommended). */
  file?: string;
  json?: boolean;
}

/**
 * `vigil apikey create`: makes a new key, prints it once, and prints the `api_keys` entry (with
 * only the key's hash) to paste into the policy. vigil stores the key nowhere. Exit 0, or 1 if an
 * argument is invalid.
 */
export async function apikeyCreateCommand(opts: ApikeyCreateOptions): Promise<number> {
  const fail = (problems: string[]) => {
    process.stderr.write(`vigil apikey create: ${problems.join('\n  ')}\n`);
    return 1;
  };
  const roles = (Array.isArray(opts.roles) ? opts.roles : opts.roles.split(',')).map((r) => r.trim()).filter((r) => r !== '');
  let expires = opts.expires;
  if (expires !== undefined && /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(expires)) expires = `${expires}T00:00:00Z`;

  // Validate with the policy's own schema, on a placeholder hash (the key does not exist yet).
  const draft = { id: opts.id, owner: opts.owner, roles, hash: `sha256:${'0'.repeat(64)}`, ...(expires !== undefined ? { expires } : {}) };
  const checked = apiKeySchema.safeParse(draft);
  const problems = checked.success ? [] : checked.error.issues.map((i) => `--${String(i.path[0] ?? 'id')}: ${i.message}`);
  if (roles.length === 0) problems.push('--roles: name at least one role');
  if (expires !== undefined && Date.parse(expires) <= Date.now()) problems.push(`--expires: ${expires} is in the past`);
  if (opts.file !== undefined) {
    try {
      const policy = await loadPolicyFile(opts.file);
      for (const r of roles) if (!policy.roles.has(r)) problems.push(`--roles: ${r} is not a role of ${policy.file} (${[...policy.roles].join(', ')})`);
      if (policy.apiKeys.has(opts.id)) problems.push(`--id: ${policy.file} already has a key ${opts.id}; choose another id, or replace that entry's hash to rotate it`);
    } catch (err) {
      if (err instanceof ConfigFileError) problems.push(err.message);
      else throw err;
    }
  }
  if (problems.length > 0) return fail(problems);

  const { key, hash } = generateApiKey(opts.id);
  const entry = { id: opts.id, owner: opts.owner, roles, hash, ...(expires !== undefined ? { expires } : {}) };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ key, entry }, null, 2)}\n`);
    return 0;
  }
  const snippet = [
    `  - id: ${entry.id}`,
    `    owner: ${JSON.stringify(entry.owner)}`,
    `    roles: [${roles.map((r) => (/^[A-Za-z0-9_-]+$/.test(r) ? r : JSON.stringify(r))).join(', ')}]`,
    `    hash: "${hash}"`,
    ...(expires !== undefined ? [`    expires: "${expires}"`] : []),
  ];
  process.stdout.write(
    [
      `API key ${opts.id} (shown only now: give it to its owner through a secret store; vigil keeps only its hash):`,
      '',
      `  ${key}`,
      '',
      'Clients send it as the x-api-key header. Add this entry under api_keys: in the policy file:',
      '',
      ...snippet,
      '',
    ].join('\n'),
  );
  return 0;
}
