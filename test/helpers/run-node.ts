import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node <args>` to completion; a non-zero exit is a result, not an exception. */
export async function runNode(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The `vigil` CLI, as a user runs it. */
export function runVigil(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runNode(['bin/vigil.js', ...args], env);
}

/** Calls one exported command function of `module` in a child process (commands write to stdout/stderr). */
export function runCommandFunction(moduleUrl: string, fn: string, args: unknown[]): Promise<Ran> {
  const script = `const m = await import(${JSON.stringify(moduleUrl)}); process.exitCode = await m.${fn}(...${JSON.stringify(args)});`;
  return runNode(['--input-type=module', '-e', script]);
}
