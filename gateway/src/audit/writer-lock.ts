/**
 * writer.lock: one writer per log directory. Two writers would fork the chain (both continuing
 * from the same seq), so a directory held by a live writer, in this process or another, on this
 * host or another, is refused. A lock its writer stopped touching is stale and taken over.
 */
import { readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { processAlive } from '../../../serving/src/process-alive.js';
import { refuse } from './audit-error.js';
import { LOCK_FILE } from './chain.js';

const noop = () => {};
/** Directories this process has open: a lock naming our own pid is ours only if listed here. */
const openDirs = new Set<string>();
/** A lock whose writer has not touched it for this long is stale (writers touch it every second or so). */
const LOCK_STALE_MS = 30_000;

export class WriterLock {
  private touching = false;

  private constructor(
    private readonly path: string,
    private readonly key: string,
  ) {}

  /** Takes the directory for this writer, or refuses (AuditError 'open') while another live writer holds it. */
  static async acquire(dir: string): Promise<WriterLock> {
    const lock = new WriterLock(join(dir, LOCK_FILE), resolve(dir));
    await lock.take(dir);
    return lock;
  }

  /** "This writer is alive"; one touch at a time, so a hung disk holds one thread, not one a second. */
  touch(): void {
    if (this.touching) return;
    this.touching = true;
    const now = new Date();
    utimes(this.path, now, now)
      .catch(noop)
      .finally(() => (this.touching = false));
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(noop);
    openDirs.delete(this.key);
  }

  private async take(dir: string): Promise<void> {
    const path = this.path;
    const me = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    for (let attempt = 0; ; attempt++) {
      try {
        if (openDirs.has(this.key)) throw refuse(`${dir} is already open in this process (pid ${process.pid}); one log has one writer`);
        await writeFile(path, JSON.stringify(me) + '\n', { flag: 'wx', mode: 0o600 });
        openDirs.add(this.key);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      }
      type Holder = { pid?: unknown; host?: unknown; since?: unknown };
      let holder: Holder | null = null;
      let age = Infinity;
      try {
        age = Date.now() - (await stat(path)).mtimeMs;
        holder = JSON.parse(await readFile(path, 'utf8')) as Holder;
      } catch {
        holder = null; // unreadable or half-written: treat as stale
      }
      if (holder && age < LOCK_STALE_MS) {
        const pid = typeof holder.pid === 'number' ? holder.pid : NaN;
        if (holder.host !== me.host) {
          throw refuse(`${path}: the directory is held by a writer on host ${String(holder.host)} (pid ${String(holder.pid)}), alive ${Math.round(age / 1000)} s ago; one log has one writer`);
        }
        // Our own pid but not open here: a previous incarnation (a restarted container reuses pids).
        if (pid !== process.pid && processAlive(pid)) {
          throw refuse(`${dir} is held by another audit writer (pid ${pid}, since ${String(holder.since)}); one log has one writer`);
        }
      }
      await unlink(path).catch(noop); // its writer died without closing
    }
  }
}

