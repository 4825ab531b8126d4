import type { QuarantineStore } from './quarantine-store.js';

export interface MemoryQuarantineOptions {
  /** Keys held; past it the entry closest to expiry goes first (it would be released soonest anyway). */
  maxEntries?: number;
  /** The clock (ms since the epoch); tests pass their own. */
  now?: () => number;
}

/** Quarantines in this process, bounded by `maxEntries`; expired entries are dropped as they are met. */
export class MemoryQuarantineStore implements QuarantineStore {
  readonly kind = 'memory';
  private readonly until = new Map<string, { untilMs: number; reason: string }>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: MemoryQuarantineOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  async add(key: string, ttlMs: number, reason: string): Promise<number> {
    const untilMs = this.now() + ttlMs;
    const existing = this.until.get(key);
    // A second finding never shortens a quarantine.
    if (existing && existing.untilMs >= untilMs) return existing.untilMs;
    if (!existing && this.until.size >= this.maxEntries) this.evictOne();
    this.until.set(key, { untilMs, reason });
    return untilMs;
  }

  async check(key: string): Promise<{ reason: string; msLeft: number } | undefined> {
    const entry = this.until.get(key);
    if (!entry) return undefined;
    const msLeft = entry.untilMs - this.now();
    if (msLeft <= 0) {
      this.until.delete(key);
      return undefined;
    }
    return { reason: entry.reason, msLeft };
  }

  async active(): Promise<number> {
    const now = this.now();
    for (const [k, v] of this.until) if (v.untilMs <= now) this.until.delete(k);
    return this.until.size;
  }

  async close(): Promise<void> {}

  private evictOne(): void {
    let soonest: string | undefined;
    let at = Infinity;
    for (const [k, v] of this.until) {
      if (v.untilMs < at) {
        at = v.untilMs;
        soonest = k;
      }
    }
    if (soonest !== undefined) this.until.delete(soonest);
  }
}
