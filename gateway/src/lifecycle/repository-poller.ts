import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { NAME_PATTERN } from '../../../oip/src/names.js';
import type { ModelRegistry } from '../model-registry.js';
import type { ModelLifecycle } from './model-lifecycle.js';

/** Who the audit log names for changes the poller makes. */
export const POLLER = 'vigil:poll';

/**
 * Triton's poll mode (`models.poll_interval_ms`): what each model directory holds, by the names,
 * sizes and modification times of its files (a stat each, no hashing: the load that follows
 * checks digests and signatures); a model whose fingerprint changed is loaded again through the
 * lifecycle (all or nothing, audited), one that appeared is loaded, one whose directory is gone is
 * unloaded. A failed load is not retried until the directory changes again. One round at a time.
 */
export class RepositoryPoller {
  private timer: NodeJS.Timeout | undefined;
  private seen = new Map<string, string>();
  private running: Promise<void> | undefined;

  constructor(
    private readonly root: string,
    private readonly intervalMs: number,
    private readonly lifecycle: ModelLifecycle,
    private readonly registry: ModelRegistry,
    private readonly log: Logger,
  ) {}

  /** Takes the repository as it is now as the starting point (it was just read), then polls. */
  async start(): Promise<void> {
    if (this.intervalMs <= 0) return;
    this.seen = await this.fingerprints();
    this.timer = setInterval(() => void this.round(), this.intervalMs);
    this.timer.unref();
  }

  /** No more rounds. One under way is not waited for: a load it makes after the supervisor stopped fails harmlessly. */
  stop(): void {
    clearInterval(this.timer);
  }

  /** One look at the repository; resolves when the changes it found are made (or refused). */
  round(): Promise<void> {
    this.running ??= this.compare().finally(() => (this.running = undefined));
    return this.running;
  }

  private async compare(): Promise<void> {
    let now: Map<string, string>;
    try {
      now = await this.fingerprints();
    } catch (err) {
      this.log.error({ err: (err as Error).message, repository: this.root }, 'the model repository cannot be read: nothing is changed this round');
      return;
    }
    for (const [model, print] of now) {
      if (this.seen.get(model) === print) continue;
      this.seen.set(model, print);
      await this.lifecycle.load(model, POLLER, { flushCaches: false }).catch((err: unknown) => this.log.error({ model, err: (err as Error).message }, `poll: ${model} changed but was not loaded`));
    }
    for (const model of [...this.seen.keys()]) {
      if (now.has(model)) continue;
      this.seen.delete(model);
      if (!this.registry.versionsOf(model).some((v) => v.status === 'serving')) continue;
      await this.lifecycle.unload(model, POLLER).catch((err: unknown) => this.log.error({ model, err: (err as Error).message }, `poll: ${model} is gone but was not unloaded`));
    }
  }

  /**
   * Each model directory's fingerprint. Only a directory that is gone (ENOENT, ENOTDIR) counts as
   * gone: any other error reading one (out of descriptors, say) keeps its last fingerprint, so a
   * passing fault never unloads a model or loads it again.
   */
  private async fingerprints(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const name of (await readdir(this.root)).sort()) {
      if (!NAME_PATTERN.test(name)) continue;
      try {
        const print = await fingerprint(join(this.root, name));
        if (print !== null) out.set(name, print);
      } catch (err) {
        if (gone(err)) continue;
        const last = this.seen.get(name);
        if (last !== undefined) out.set(name, last);
        this.log.warn({ model: name, err: (err as Error).message }, 'poll: a model directory could not be read; left as it was this round');
      }
    }
    return out;
  }
}

function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Names, sizes and modification times of a model directory's files, two levels deep; null when it is no directory. */
async function fingerprint(dir: string): Promise<string | null> {
  if (!(await stat(dir)).isDirectory()) return null;
  const parts: string[] = [];
  // A file gone between the listing and its stat is a change ('-'); any other error is thrown.
  const statOf = async (path: string) => {
    try {
      const s = await stat(path);
      return `${s.size}:${s.mtimeMs}`;
    } catch (err) {
      if (gone(err)) return '-';
      throw err;
    }
  };
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      let files: string[];
      try {
        files = (await readdir(path)).sort();
      } catch (err) {
        if (!gone(err)) throw err;
        continue;
      }
      for (const file of files) parts.push(`${entry.name}/${file}:${await statOf(join(path, file))}`);
    } else {
      parts.push(`${entry.name}:${await statOf(path)}`);
    }
  }
  return parts.join('\n');
}
