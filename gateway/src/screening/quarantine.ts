import { MemoryQuarantineStore } from '../stores/memory-quarantine-store.js';
import type { QuarantineStore } from '../stores/quarantine-store.js';

/**
 * Principals refused for a while because a detector's policy action said so, in whole seconds as
 * the policy and Retry-After count them. Kept by the quarantine store (`screening.store`); the
 * memory one is bounded, evicting the entry closest to expiry first.
 */
export class Quarantine {
  constructor(private readonly store: QuarantineStore = new MemoryQuarantineStore()) {}

  /** Quarantines `principal` for `seconds`; a second finding never shortens a quarantine. Resolves to when it ends (ms). */
  add(principal: string, seconds: number, reason: string): Promise<number> {
    return this.store.add(principal, seconds * 1000, reason);
  }

  /** The quarantine in force for this principal (with whole seconds left, at least 1), or undefined. */
  async check(principal: string): Promise<{ secondsLeft: number; reason: string } | undefined> {
    const entry = await this.store.check(principal);
    if (!entry) return undefined;
    return { secondsLeft: Math.max(1, Math.ceil(entry.msLeft / 1000)), reason: entry.reason };
  }

  /** Principals quarantined right now. */
  active(): Promise<number> {
    return this.store.active();
  }
}
