// A real HAProxy for a test: round-robin HTTP over the given loopback backends, in the foreground
// as a child of the test (killed by the kernel if the test dies). Never the system service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { executable, freePort, SETPRIV } from './local-daemon.js';

const DEFAULT_BINARY = '/usr/sbin/haproxy';

/** The haproxy binary, or null when it is not installed (tests then skip, never pass). */
export function haproxyBinary(): string | null {
  const path = process.env.HAPROXY_BIN ?? DEFAULT_BINARY;
  return executable(path) ? path : null;
}

export const haproxySkip: string | false = haproxyBinary() === null ? 'haproxy is not installed (Debian package haproxy)' : false;

export interface TestHaproxy {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Round-robin over `backends` (loopback ports), each request balanced on its own. */
export async function startHaproxy(backends: number[]): Promise<TestHaproxy> {
  const bin = haproxyBinary();
  if (!bin) throw new Error('haproxy is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'vigil-haproxy-'));
  const port = await freePort();
  const cfg = [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    'frontend vigil',
    `  bind 127.0.0.1:${port}`,
    '  default_backend replicas',
    'backend replicas',
    '  balance roundrobin',
    ...backends.map((p, i) => `  server r${i + 1} 127.0.0.1:${p}`),
    '',
  ].join('\n');
  await writeFile(join(dir, 'haproxy.cfg'), cfg);
  const child: ChildProcess = spawn(SETPRIV, ['--pdeathsig', 'KILL', bin, '-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('haproxy did not listen within 10 s');
    await sleep(25);
  }
  return {
    port,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
