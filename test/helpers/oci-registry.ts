// A real OCI registry for a test: Debian's docker-registry (CNCF distribution), on its own
// loopback port with its own storage directory, started as a child of the test and always
// stopped by it (and killed by the kernel if the test dies). Never the system service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { executable, freePort, SETPRIV } from './local-daemon.js';

const DEFAULT_BINARY = '/usr/bin/docker-registry';

export function registryBinary(): string | null {
  const path = process.env.DOCKER_REGISTRY_BIN ?? DEFAULT_BINARY;
  return executable(path) ? path : null;
}

/** Why registry tests skip here, or false when they run. */
export const registrySkip: string | false = registryBinary() === null ? 'docker-registry is not installed (Debian package docker-registry)' : false;

export interface TestRegistry {
  /** host:port, as an oci:// reference names it */
  host: string;
  /** Where it keeps blobs (a test may damage one). */
  storage: string;
  /** Freezes it (SIGSTOP): connections open, nothing answers, as a hung registry. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const bin = registryBinary();
  if (!bin) throw new Error('docker-registry is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'vigil-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const config = join(dir, 'config.yml');
  // No blob descriptor cache: a test that damages a blob on disk must see it served damaged.
  await writeFile(config, `version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: ${storage} }
  delete: { enabled: true }
http: { addr: 127.0.0.1:${port} }
`);
  const child: ChildProcess = spawn(SETPRIV, ['--pdeathsig', 'KILL', bin, 'serve', config], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200, () => false);
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry on ${port} did not answer within 15 s`);
    }
    await sleep(50);
  }
  return {
    host: `127.0.0.1:${port}`,
    storage,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
