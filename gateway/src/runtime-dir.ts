import { mkdir, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The private directory holding the pools' Unix sockets. Mode 0700 and owned by this user, so
 * nothing but the gateway's user can connect to a pool: a pool has no authentication of its own.
 * Returns whether vigil created it (and so removes it on stop).
 */
export async function prepareRuntimeDir(configured: string): Promise<{ path: string; created: boolean }> {
  if (!configured) return { path: await mkdtemp(join(tmpdir(), 'vigil-')), created: true };
  await mkdir(configured, { recursive: true, mode: 0o700 });
  const info = await stat(configured);
  if (typeof process.getuid === 'function' && info.uid !== process.getuid()) {
    throw new Error(`runtime directory ${configured} is owned by uid ${info.uid}, not by this user; refusing to put pool sockets there`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`runtime directory ${configured} has mode ${(info.mode & 0o777).toString(8)}; it must be 0700 so only vigil can reach its pools`);
  }
  return { path: configured, created: false };
}
