import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigFileError, loadYamlWithSchema } from '../../../oip/src/yaml-with-schema.js';
import { configSchema, type VigilConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'vigil.yaml';

export interface LoadedConfig {
  config: VigilConfig;
  /** The file read, or null when none exists and the defaults apply. */
  file: string | null;
}

/** Environment variables that override the file, applied after it is validated, then re-checked. */
const ENV_OVERRIDES: { name: string; apply: (c: VigilConfig, v: string) => void; port?: true }[] = [
  { name: 'PORT', port: true, apply: (c, v) => (c.server.port = Number(v)) },
  { name: 'ADMIN_PORT', port: true, apply: (c, v) => (c.admin.port = Number(v)) },
  { name: 'HOST', apply: (c, v) => (c.server.host = v) },
  { name: 'VIGIL_MODEL_REPOSITORY', apply: (c, v) => (c.models.repository = resolve(v)) },
  { name: 'VIGIL_RUNTIME_DIR', apply: (c, v) => (c.models.runtime_dir = resolve(v)) },
  { name: 'VIGIL_POLICY', apply: (c, v) => (c.policy.file = resolve(v)) },
  { name: 'VIGIL_AUDIT_DIR', apply: (c, v) => (c.audit.dir = resolve(v)) },
  { name: 'VIGIL_STATE_DIR', apply: (c, v) => (c.auth.state_dir = resolve(v)) },
  { name: 'VIGIL_REPLICA_ID', apply: (c, v) => (c.server.replica_id = v) },
  { name: 'VIGIL_POOLS_ISOLATION', apply: (c, v) => (c.pools.isolation = v as VigilConfig['pools']['isolation']) },
];

/**
 * Reads the config file (`file`, else $VIGIL_CONFIG, else ./vigil.yaml if present, else the
 * defaults), applies environment overrides, and resolves paths. Throws ConfigFileError listing
 * every problem.
 */
export async function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const chosen = file ?? env.VIGIL_CONFIG ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  let config: VigilConfig;
  let baseDir = process.cwd();
  if (chosen) {
    const path = resolve(chosen);
    config = await loadYamlWithSchema(path, configSchema);
    baseDir = dirname(path);
  } else {
    config = configSchema.parse({});
  }
  const problems: string[] = [];
  for (const o of ENV_OVERRIDES) {
    const value = env[o.name];
    if (value === undefined || value === '') continue;
    if (o.port && !/^[0-9]{1,5}$/.test(value)) {
      problems.push(`${o.name}=${JSON.stringify(value)}: must be a port number`);
      continue;
    }
    o.apply(config, value);
  }
  const recheck = configSchema.safeParse(config);
  if (!recheck.success) {
    for (const issue of recheck.error.issues) problems.push(`${issue.path.join('.')} (from the environment): ${issue.message}`);
  }
  if (problems.length > 0) throw new ConfigFileError('environment', problems);
  config.models.repository = absolute(baseDir, config.models.repository);
  if (config.models.runtime_dir) config.models.runtime_dir = absolute(baseDir, config.models.runtime_dir);
  for (const key of config.models.trusted_keys) key.public_key_file = absolute(baseDir, key.public_key_file);
  config.auth.state_dir = absolute(baseDir, config.auth.state_dir);
  for (const issuer of config.auth.issuers) if (issuer.jwks_file) issuer.jwks_file = absolute(baseDir, issuer.jwks_file);
  config.policy.file = absolute(baseDir, config.policy.file);
  config.audit.dir = absolute(baseDir, config.audit.dir);
  if (config.audit.hmac_key_file) config.audit.hmac_key_file = absolute(baseDir, config.audit.hmac_key_file);
  if (config.audit.signing_key_file) config.audit.signing_key_file = absolute(baseDir, config.audit.signing_key_file);
  return { config: Object.freeze(config), file: chosen ? resolve(chosen) : null };
}

function absolute(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}
