/**
 * Principals refused for a while because a detector's policy action said so. In memory, bounded:
 * past `maxEntries` the entry closest to expiry goes first (it would be released soonest anyway).
 */
export class Quarantine {
  private readonly until = new Map<string, { untilMs: number; reason: string }>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  add(principal: string, seconds: number, reason: string): number {
    const untilMs = this.now() + seconds * 1000;
    const existing = this.until.get(principal);
    // A second finding never shortens a quarantine.
    if (existing && existing.untilMs >= untilMs) return existing.untilMs;
    if (!existing && this.until.size >= this.maxEntries) this.evictOne();
    this.until.set(principal, { untilMs, reason });
    return untilMs;
  }

  /** The quarantine in force for this principal (with whole seconds left, at least 1), or undefined. */
  check(principal: string): { secondsLeft: number; reason: string } | undefined {
    const entry = this.until.get(principal);
    if (!entry) return undefined;
    const left = entry.untilMs - this.now();
    if (left <= 0) {
      this.until.delete(principal);
      return undefined;
    }
    return { secondsLeft: Math.max(1, Math.ceil(left / 1000)), reason: entry.reason };
  }

  /** Principals quarantined right now (expired entries are dropped on the way). */
  active(): number {
    const now = this.now();
    for (const [k, v] of this.until) if (v.untilMs <= now) this.until.delete(k);
    return this.until.size;
  }

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
