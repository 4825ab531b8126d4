import { ConfigFileError } from '../../../oip/src/yaml-with-schema.js';
import { loadConfig } from '../config/load-config.js';

/** `vigil config check [file]`: validate, report every problem with file:line, exit 1 on any. */
export async function configCheckCommand(file: string | undefined): Promise<number> {
  try {
    const { config, file: used } = await loadConfig(file);
    process.stdout.write(`ok: ${used ?? '(no file: defaults)'}\n`);
    process.stdout.write(`  gateway ${config.server.host}:${config.server.port}, admin ${config.admin.host}:${config.admin.port}, models ${config.models.repository}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigFileError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
