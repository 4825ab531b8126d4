import { accessSync, constants } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';

/**
 * Launching a Debian daemon (prometheus, alertmanager) for a test: `setpriv --pdeathsig KILL` makes
 * the kernel kill it if the test process dies in any way, SIGKILL included.
 */
export const SETPRIV = '/usr/bin/setpriv';

export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A loopback port free right now (the daemon may still lose a race for it: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
