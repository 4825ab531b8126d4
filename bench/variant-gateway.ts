// Starts bench/gateway-variant.js (a gateway in its own process) and waits until it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
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
  const { port, poolSocket, poolPid } = JSON.parse(await firstLine(child)) as { port: number; poolSocket: string; poolPid: number };
  return { child, port, poolSocket, poolPid, runtimeDir };
}
