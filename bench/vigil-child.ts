// vigil as `npm start` runs it, in a child process of a bench, on scratch directories, with the
// full security chain (authenticate, authorize, limit, audit) and quotas out of the load's reach.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parse, stringify } from 'yaml';
import { loadOrCreateDevKey, mintDevToken } from '../gateway/src/auth/dev-signing-key.js';

const POLICY = `version: 1
roles: { admin: all, analyst: bench }
grants:
  - { id: admin, roles: [admin], actions: ["*"], models: ["*"] }
  - { id: bench, roles: [analyst], actions: [infer], models: [mnist] }
limits: { roles: { analyst: { requests_per_minute: 100000000, items_per_minute: 100000000, concurrency: 1000 } } }
`;

/** The node flags `npm start` uses (V8 heap flags), so a bench measures the gateway as shipped. */
export function npmStartNodeFlags(): string[] {
  const script = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start;
  const [command, ...args] = script.split(/\s+/);
  if (command !== 'node' || args.at(-2) !== 'bin/vigil.js' || args.at(-1) !== 'start') throw new Error(`npm start runs '${script}': update bench/vigil-child.ts`);
  return args.slice(0, -2);
}

export interface VigilChild {
  child: ReturnType<typeof spawn>;
  port: number;
  adminPort: number;
  /** A bearer header for `sub` with `roles`, signed by this vigil's dev key. */
  mint(sub: string, roles: string[]): Promise<Record<string, string>>;
  /** The mnist pool worker. */
  poolPid: number;
  poolSocket: string;
  /** Headers of a caller that may infer on mnist. */
  auth: Record<string, string>;
  /** VmHWM of the gateway process (pools excluded), in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/**
 * Starts `node <nodeFlags> bin/vigil.js start`; the flags default to those of `npm start`.
 * `config` is laid over the bundled vigil.yaml; `policy` replaces the bench policy.
 */
export async function startVigilChild(nodeFlags = npmStartNodeFlags(), opts: { config?: Record<string, unknown>; policy?: string } = {}): Promise<VigilChild> {
  const runtimeDir = await mkdtemp(join(tmpdir(), 'vigil-bench-'));
  const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-scratch-'));
  await writeFile(join(scratch, 'policy.yaml'), opts.policy ?? POLICY);
  const stateDir = join(scratch, 'state');
  const configArgs: string[] = [];
  if (opts.config) {
    const bundled = parse(readFileSync('vigil.yaml', 'utf8')) as Record<string, Record<string, unknown>>;
    const merged: Record<string, unknown> = { ...bundled, models: { ...bundled.models, repository: resolve('models') } };
    for (const [k, v] of Object.entries(opts.config)) merged[k] = { ...(bundled[k] ?? {}), ...(v as object) };
    await writeFile(join(scratch, 'vigil.yaml'), stringify(merged));
    configArgs.push('--config', join(scratch, 'vigil.yaml'));
  }
  const child = spawn(process.execPath, [...nodeFlags, 'bin/vigil.js', 'start', ...configArgs], {
    env: {
      ...process.env,
      PORT: '0',
      ADMIN_PORT: '0',
      LOG_LEVEL: 'info',
      VIGIL_RUNTIME_DIR: runtimeDir,
      VIGIL_STATE_DIR: stateDir,
      VIGIL_AUDIT_DIR: join(scratch, 'audit'),
      VIGIL_POLICY: join(scratch, 'policy.yaml'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await rm(runtimeDir, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  };
  try {
    const { port, adminPort } = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"vigil listening"')) resolve(JSON.parse(line) as { port: number; adminPort: number });
      });
      child.once('exit', () => reject(new Error('vigil exited before listening')));
    });
    const key = await loadOrCreateDevKey(stateDir);
    const token = await mintDevToken(key, { sub: 'bench', roles: ['admin'], ttlSeconds: 3600 });
    const analystToken = await mintDevToken(key, { sub: 'bench', roles: ['analyst'], ttlSeconds: 3600 });
    const statusRes = await fetch(`http://127.0.0.1:${adminPort}/status`, { headers: { authorization: `Bearer ${token}` } });
    const status = (await statusRes.json()) as { models?: { model: string; workers: { pid: number }[] }[] };
    if (!status.models) throw new Error(`GET /status answered ${statusRes.status}: ${JSON.stringify(status)}`);
    const poolPid = status.models.find((m) => m.model === 'mnist')!.workers[0].pid;
    const peakRssMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
    const mint = async (sub: string, roles: string[]) => ({ authorization: `Bearer ${await mintDevToken(key, { sub, roles, ttlSeconds: 3600 })}` });
    return { child, port, adminPort, mint, poolPid, poolSocket: join(runtimeDir, 'mnist.1.0', 'pool.sock'), auth: { authorization: `Bearer ${analystToken}` }, peakRssMb, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
