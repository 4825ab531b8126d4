import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface VigilProcess {
  child: ChildProcess;
  port: number;
  adminPort: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `vigil start` as a real process, as a user would, on ephemeral ports. */
export async function spawnVigil(env: Record<string, string> = {}): Promise<VigilProcess> {
  const child = spawn(process.execPath, ['bin/vigil.js', 'start'], {
    env: { ...process.env, PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number; adminPort?: number };
        if (entry.msg === 'vigil listening') resolve({ port: entry.port!, adminPort: entry.adminPort! });
      } catch {
        // not a log line
      }
    });
    void exited.then(() => reject(new Error('vigil exited before listening')));
  });
  child.stdout!.resume();
  return { child, ...ports, exited };
}
