import { existsSync } from 'node:fs';
import { loadConfig } from '../config/load-config.js';

/**
 * The audit directory a command reads: the one given, else `audit.dir` of the config it finds
 * (--config, $VIGIL_CONFIG, ./vigil.yaml, else the defaults). When it does not exist, the error
 * says which config it came from, so "no such directory" run from the wrong place is not a riddle.
 */
export async function auditDirOf(dir: string | undefined, configFile: string | undefined): Promise<string> {
  if (dir !== undefined) {
    if (!existsSync(dir)) throw new Error(`no audit log at ${dir}: no such directory`);
    return dir;
  }
  const { config, file } = await loadConfig(configFile);
  const from = file ? `audit.dir in ${file}` : 'the default audit.dir (no config file: none given with --config or $VIGIL_CONFIG, and no ./vigil.yaml here)';
  if (!existsSync(config.audit.dir)) throw new Error(`no audit log at ${config.audit.dir}, ${from}; give the directory, or the config vigil runs with (--config FILE or VIGIL_CONFIG)`);
  return config.audit.dir;
}
