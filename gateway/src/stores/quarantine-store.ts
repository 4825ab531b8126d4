// Quarantined callers: a key refused everything until its time is up, with the reason. vigil's own
// types; every method returns a promise so a shared store (Redis, for replicas) can stand in.
// Proven by test/contracts/quarantine-store.contract.ts.

export interface QuarantineStore {
  /** The config kind that selects this store (`screening.store.kind`). */
  readonly kind: string;
  /**
   * Quarantines `key` for `ttlMs` with `reason`. A quarantine in force is never shortened: if it
   * ends at least as late, it stays, reason and all. Resolves to when the quarantine in force ends
   * (ms since the epoch).
   */
  add(key: string, ttlMs: number, reason: string): Promise<number>;
  /** The quarantine in force for `key` (msLeft > 0), or undefined once it has ended. */
  check(key: string): Promise<{ reason: string; msLeft: number } | undefined>;
  /** Keys quarantined now. */
  active(): Promise<number>;
  /** Lets go of connections and timers; memory stores have none. */
  close(): Promise<void>;
}
