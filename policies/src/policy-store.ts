import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigFileError } from '../../oip/src/yaml-with-schema.js';
import { parsePolicyText, policyDigest, type CompiledPolicy } from './compile-policy.js';

/** The policy shipped with vigil (policies/vigil-policy.yaml), for the embedded default. */
export const BUNDLED_POLICY_FILE = fileURLToPath(new URL('../../../policies/vigil-policy.yaml', import.meta.url));

/**
 * Reads, validates and compiles a policy file. Throws ConfigFileError listing every problem as
 * `file:line:col path: reason` (or that the file cannot be read).
 */
export async function loadPolicyFile(file: string): Promise<CompiledPolicy> {
  const path = resolve(file);
  return parsePolicyText(await readPolicyText(path), path);
}

async function readPolicyText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(path, [`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
}

export interface PolicyReloaded {
  file: string;
  /** Grants plus denies in the new policy. */
  rules: number;
  apiKeys: number;
  roles: number;
  digest: string;
  previousDigest: string | null;
}

export interface PolicyReloadFailed {
  file: string;
  /** Every problem, `file:line:col path: reason`; the previous policy stays in force. */
  problems: string[];
  /** The digest of the policy still in force. */
  keptDigest: string | null;
}

export interface PolicyStoreEvents {
  reloaded: [PolicyReloaded];
  'reload-failed': [PolicyReloadFailed];
}

export type ReloadResult = { ok: true; changed: boolean; policy: CompiledPolicy } | { ok: false; problems: string[]; policy: CompiledPolicy };

/**
 * Holds the policy in force and swaps it when its file changes.
 *
 * - `current()` is what every request evaluates against; a swap is one reference assignment, so a
 *   request sees the old policy or the new one, never a mix.
 * - A change is applied only once the whole new file loads and validates. An invalid, unreadable
 *   or deleted file leaves the last good policy in force and emits `reload-failed` with every
 *   problem: there is never an empty or allow-all policy.
 * - `watch()` watches the file's directory (not the file), so editors that write a new file and
 *   rename it over the old one, and Kubernetes ConfigMap symlink swaps, are seen. Events are
 *   debounced; a file whose bytes did not change since the last attempt is not reloaded again.
 * - A watched change is applied only once the file has settled: unmodified for `quietMs`, and two
 *   reads `settleMs` apart give the same bytes. A file written in place in several chunks can be
 *   a valid but truncated policy between them (no denies, no API keys), which must never be in
 *   force even briefly. Deploy by writing a new file and renaming it over the old one (atomic);
 *   the quiet period is the guard for writers that do not.
 */
export class PolicyStore extends EventEmitter<PolicyStoreEvents> {
  readonly file: string;
  private policy: CompiledPolicy;
  /** Digest of the bytes last tried (applied or refused), or 'missing'. */
  private lastSeen: string | null;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ReloadResult> | null = null;
  private again = false;
  private debounceMs = 100;
  private quietMs = 1000;
  private settleMs = 200;
  private closed = false;

  /** Loads `file` (throws ConfigFileError if it is invalid) and returns a store holding it. */
  static async open(file: string): Promise<PolicyStore> {
    return new PolicyStore(await loadPolicyFile(file));
  }

  constructor(initial: CompiledPolicy, file?: string) {
    super();
    const f = file ?? initial.file;
    if (!f) throw new Error('PolicyStore needs the policy file: load it with loadPolicyFile, or pass file');
    this.file = resolve(f);
    this.policy = initial;
    this.lastSeen = initial.digest;
  }

  current(): CompiledPolicy {
    return this.policy;
  }

  /** Starts watching the file. Does not keep the process alive by itself. */
  watch(options: { debounceMs?: number; quietMs?: number; settleMs?: number } = {}): this {
    if (this.watcher || this.closed) return this;
    this.debounceMs = options.debounceMs ?? 100;
    this.quietMs = options.quietMs ?? 1000;
    this.settleMs = options.settleMs ?? Math.min(200, this.quietMs);
    // Any entry of the directory may be ours: the file itself, a temp file renamed over it, or
    // the target of a symlink swap. So every event schedules a read; unchanged bytes are ignored.
    this.watcher = watch(dirname(this.file), { persistent: false }, () => this.schedule());
    this.watcher.on('error', (err) => {
      this.emit('reload-failed', { file: this.file, problems: [`${this.file}: watching stopped: ${err.message}`], keptDigest: this.policy.digest });
    });
    return this;
  }

  private schedule(delayMs = this.debounceMs): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.reloadWhenSettled();
    }, delayMs);
    this.timer.unref();
  }

  /** The watcher's reload: only of a file that has stopped changing (see the class comment). */
  private async reloadWhenSettled(): Promise<void> {
    const wait = await this.unsettledFor();
    if (this.closed) return;
    if (wait > 0) return this.schedule(wait);
    await this.reload();
  }

  /** 0 once the file is quiet and reads the same twice (or is gone: reload reports that); else ms to wait. */
  private async unsettledFor(): Promise<number> {
    try {
      const st = await stat(this.file);
      const age = Date.now() - st.mtimeMs;
      // A future mtime (clock skew, a copied file) counts as quiet: the double read still guards.
      if (age >= 0 && age < this.quietMs) return this.quietMs - age;
      const first = await readFile(this.file);
      await new Promise((r) => setTimeout(r, this.settleMs).unref());
      const second = await readFile(this.file);
      return first.equals(second) ? 0 : this.quietMs;
    } catch {
      return 0;
    }
  }

  /**
   * Reloads now, without a quiet period (an admin endpoint or SIGHUP: the operator says the file
   * is ready; the watcher waits for the file to settle first). Reloads run one at
   * a time; one asked for during another runs after it, on the file as it is then.
   */
  async reload(): Promise<ReloadResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.reloadOnce();
    try {
      let result = await this.running;
      while (this.again && !this.closed) {
        this.again = false;
        this.running = this.reloadOnce();
        result = await this.running;
      }
      return result;
    } finally {
      this.running = null;
    }
  }

  private async reloadOnce(): Promise<ReloadResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && this.lastSeen !== 'missing') {
        // An editor may be between moving the old file away and putting the new one in place.
        await new Promise((r) => setTimeout(r, this.debounceMs).unref());
        if (this.closed) return { ok: true, changed: false, policy: this.policy };
        try {
          text = await readFile(this.file, 'utf8');
        } catch (again) {
          return this.fail('missing', [`${this.file}: cannot read: ${(again as NodeJS.ErrnoException).code ?? (again as Error).message}`]);
        }
      } else {
        if (code === 'ENOENT') return { ok: false, problems: [`${this.file}: cannot read: ENOENT`], policy: this.policy };
        return this.fail(`error:${code}`, [`${this.file}: cannot read: ${code ?? (err as Error).message}`]);
      }
    }
    const digest = policyDigest(text);
    if (digest === this.lastSeen) return { ok: true, changed: false, policy: this.policy };
    let next: CompiledPolicy;
    try {
      next = parsePolicyText(text, this.file);
    } catch (err) {
      if (err instanceof ConfigFileError) return this.fail(digest, err.problems);
      return this.fail(digest, [`${this.file}: ${(err as Error).message}`]);
    }
    if (this.closed) return { ok: true, changed: false, policy: this.policy };
    const previousDigest = this.policy.digest;
    this.policy = next;
    this.lastSeen = digest;
    this.emit('reloaded', {
      file: this.file,
      rules: next.grants.length + next.denies.length,
      apiKeys: next.apiKeys.size,
      roles: next.roles.size,
      digest,
      previousDigest,
    });
    return { ok: true, changed: true, policy: next };
  }

  private fail(seen: string, problems: string[]): ReloadResult {
    const repeated = seen === this.lastSeen;
    this.lastSeen = seen;
    if (!repeated && !this.closed) this.emit('reload-failed', { file: this.file, problems, keptDigest: this.policy.digest });
    return { ok: false, problems, policy: this.policy };
  }

  /** Stops watching. The policy in force stays readable. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }
}
