import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadOrCreateDevKey, mintDevToken } from '../../gateway/src/auth/dev-signing-key.js';

export interface VigilProcess {
  child: ChildProcess;
  port: number;
  adminPort: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Where this vigil keeps its audit log. */
  auditDir: string;
  /** Every log line vigil has written so far (JSON, parsed). */
  logs: Record<string, unknown>[];
  /** `{ authorization }` headers for a development token of this vigil. */
  auth(roles: string[], sub?: string): Promise<Record<string, string>>;
}

/** Runs `vigil start` as a real process, as a user would, on ephemeral ports, with its own audit log and keys. */
export async function spawnVigil(env: Record<string, string> = {}, opts: { prefix?: string[] } = {}): Promise<VigilProcess> {
  const scratch = await mkdtemp(join(tmpdir(), 'vigil-proc-'));
  const stateDir = join(scratch, 'state');
  const auditDir = join(scratch, 'audit');
  // A prefix runs vigil under another command that execs it (e.g. prlimit with a descriptor limit).
  const [command, ...args] = [...(opts.prefix ?? []), process.execPath, 'bin/vigil.js', 'start'];
  const child = spawn(command, args, {
    env: { ...process.env, PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', VIGIL_STATE_DIR: stateDir, VIGIL_AUDIT_DIR: auditDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const logs: Record<string, unknown>[] = [];
  const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number; adminPort?: number };
        logs.push(entry);
        if (entry.msg === 'vigil listening') resolve({ port: entry.port!, adminPort: entry.adminPort! });
      } catch {
        // not a log line
      }
    });
    void exited.then(() => reject(new Error('vigil exited before listening')));
  });
  child.stdout!.resume();
  return {
    child,
    ...ports,
    exited,
    auditDir,
    logs,
    auth: async (roles, sub = 'ops') => ({ authorization: `Bearer ${await mintDevToken(await loadOrCreateDevKey(stateDir), { sub, roles, ttlSeconds: 600 })}` }),
  };
}
