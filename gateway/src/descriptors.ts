import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** How many file descriptors this process may open (soft) and could raise itself to (hard). */
export interface DescriptorLimit {
  soft: number;
  hard: number;
}

/** RLIMIT_NOFILE as /proc/self/limits reports it; null where there is no /proc (not Linux). */
export function readDescriptorLimit(): DescriptorLimit | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').split(/\s{2,}/).slice(1, 3).map((v) => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v)));
    return Number.isFinite(soft) && Number.isFinite(hard) ? { soft, hard } : null;
  } catch {
    return null;
  }
}

/**
 * Raises the soft descriptor limit to the hard one, as servers that accept many connections do
 * (systemd's default soft limit is 1024). Node has no setrlimit, so this asks util-linux's
 * `prlimit` to do it for this process (allowed without privileges up to the hard limit).
 * Returns the limit in force afterwards, and why it could not be raised if it was not.
 */
export function raiseDescriptorLimit(): { limit: DescriptorLimit | null; problem?: string } {
  const before = readDescriptorLimit();
  if (!before || before.soft >= before.hard) return { limit: before };
  const target = Math.min(before.hard, 1_048_576);
  try {
    execFileSync('prlimit', [`--pid=${process.pid}`, `--nofile=${target}:${before.hard}`], { stdio: 'ignore', timeout: 5_000 });
  } catch (err) {
    return { limit: before, problem: `prlimit failed: ${(err as Error).message}` };
  }
  return { limit: readDescriptorLimit() };
}

/**
 * Descriptors kept back from client connections: pool worker spawns (pipes, IPC), their health
 * probes, the connections to each worker, audit and policy files, the admin port. Without this
 * reserve a connection flood makes probes and spawns fail with EMFILE, which looks like dead
 * workers (DESIGN.md, first-wave findings).
 */
export function reservedDescriptors(workers: number, connectionsPerWorker: number, adminConnections: number): number {
  return 128 + adminConnections + workers * (connectionsPerWorker + 16);
}
