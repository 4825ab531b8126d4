// A real redis-server for a test: its own port and directory, no persistence, started as a child
// of the test and always stopped by it (and killed by the kernel if the test dies). Never the
// system service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { executable, freePort, SETPRIV } from './local-daemon.js';

/** Where the Debian package puts it; `REDIS_SERVER_BIN` overrides. */
const DEFAULT_BINARY = '/usr/bin/redis-server';

/** The redis-server binary, or null when it is not installed (tests then skip, never pass). */
export function redisBinary(): string | null {
  const path = process.env.REDIS_SERVER_BIN ?? DEFAULT_BINARY;
  return executable(path) ? path : null;
}

/** Why redis tests skip here, or false when they run. */
export const redisSkip: string | false = redisBinary() === null ? 'redis-server is not installed (Debian package redis-server)' : false;

export interface TestRedis {
  port: number;
  /** The server's pid now (it changes on restart). */
  readonly pid: number;
  url: string;
  /** Kills the server (SIGKILL: as a crash would) and resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing answers, as a hung server. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const bin = redisBinary();
  if (!bin) throw new Error('redis-server is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'vigil-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(SETPRIV, ['--pdeathsig', 'KILL', bin, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await pings(port))) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer within 10 s`);
      await sleep(25);
    }
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };
  await launch();
  return {
    port,
    get pid() {
      return child!.pid!;
    },
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a Redis answers PING on the port. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
