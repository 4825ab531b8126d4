import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface PoolServeProcess {
  child: ChildProcess;
  port: number;
  /** The plain probes' port, with --health-listen. */
  healthPort: number | null;
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, as a crash or a lost host would: resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/** Runs `vigil pool serve` as a real process, as an operator would on another host. */
export async function spawnPoolServe(args: string[], env: Record<string, string> = {}): Promise<PoolServeProcess> {
  const child = spawn(process.execPath, ['bin/vigil.js', 'pool', 'serve', ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const logs: Record<string, unknown>[] = [];
  const { port, healthPort } = await new Promise<{ port: number; healthPort: number | null }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number; healthPort?: number | null };
        logs.push(entry);
        if (entry.msg === 'vigil pool listening') resolve({ port: entry.port!, healthPort: entry.healthPort ?? null });
      } catch {
        // not a log line
      }
    });
    void exited.then(({ code }) => reject(new Error(`vigil pool serve exited (${code}) before listening: ${JSON.stringify(logs.slice(-3))}`)));
  });
  child.stdout!.resume();
  return {
    child,
    port,
    healthPort,
    logs,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
