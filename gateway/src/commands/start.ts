import { loadConfig } from '../config/load-config.js';
import { createLogger } from '../logger.js';
import { startVigil } from '../vigil.js';

/** `vigil start`: run until SIGTERM/SIGINT, then drain and stop every pool. */
export async function startCommand(opts: { config?: string }): Promise<void> {
  const log = createLogger();
  const { config, file } = await loadConfig(opts.config);
  log.info({ config: file ?? '(defaults)' }, 'configuration loaded');
  const vigil = await startVigil(config, log);
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    vigil.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
