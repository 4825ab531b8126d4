// Starts bench/gateway-variant.js (a gateway in its own process) and waits until it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadOrCreateDevKey, mintDevToken } from '../gateway/src/auth/dev-signing-key.js';

/**
 * Writes the policy a variant gateway in `scratch` reads (an analyst with quotas far above what
 * the load reaches, so the limit stage does its full work and never refuses) and returns a token
 * for that analyst.
 */
export async function benchCaller(scratch: string): Promise<string> {
  await writeFile(
    join(scratch, 'policy.yaml'),
    `version: 1
roles: { analyst: bench }
grants: [{ id: g, roles: [analyst], actions: [infer], models: [mnist] }]
limits: { roles: { analyst: { requests_per_minute: 100000000, items_per_minute: 100000000, concurrency: 1000 } } }
`,
  );
  return mintDevToken(await loadOrCreateDevKey(join(scratch, 'state')), { sub: 'bench', roles: ['analyst'], ttlSeconds: 3600 });
}

/** The line the variant prints once listening; its log lines (a warning about isolation, say) may come first. */
function readyLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!line.startsWith('{"port"')) return;
      lines.close();
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before it was ready`)));
  });
}

/** A gateway with or without the security chain and request metrics, its policy and keys in `scratch`. */
export async function gateway(scratch: string, chain: boolean, tokenCache: number, telemetry = true, env: Record<string, string> = {}, repository?: string) {
  const runtimeDir = await mkdtemp(join(tmpdir(), 'vigil-bench-rt-'));
  const child = spawn(process.execPath, [new URL('./gateway-variant.js', import.meta.url).pathname, JSON.stringify({ chain, tokenCache, runtimeDir, scratch, telemetry, repository })], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const { port, poolSocket, poolPid } = JSON.parse(await readyLine(child)) as { port: number; poolSocket: string; poolPid: number };
  return { child, port, poolSocket, poolPid, runtimeDir };
}
