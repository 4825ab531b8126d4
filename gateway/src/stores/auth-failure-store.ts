// Authentication-failure counters: failures per key within a window, and a block once there are too
// many. vigil's own types; every method that reads or writes the store returns a promise so a
// shared store (Redis, for replicas) can stand in. Proven by
// test/contracts/auth-failure-store.contract.ts.

/** At most `maxFailures` failures per window of `windowMs` (from a key's first); the next one blocks the key for `blockMs`. */
export interface FailureRule {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
}

export interface FailureCount {
  /** Failures of the key counted in its current window (or block), this one included. */
  failures: number;
  /** Set when the key is blocked: when the block ends (ms since the epoch). */
  blockedUntilMs?: number;
}

export interface AuthFailureStore {
  /** The config kind that selects this store (`auth.failures.store.kind`). */
  readonly kind: string;
  /**
   * Counts one failure of `key` under `rule`. The failure past `maxFailures` in one window blocks
   * the key for `blockMs`; failures during a block do not lengthen it; once it ends the key
   * starts afresh. Exact under concurrent callers. A key is always used with the same rule.
   */
  recordFailure(key: string, rule: FailureRule): Promise<FailureCount>;
  /** When `key`'s block ends (ms since the epoch), or undefined when it is not blocked. */
  blockedUntil(key: string): Promise<number | undefined>;
  /**
   * False only when the store knows that no key is blocked: lets the check every request makes
   * skip working out its keys. Cheap and synchronous, never a round trip: a shared store that
   * cannot tell answers true. Never false while a key is blocked.
   */
  maybeBlocked(): boolean;
  /** Lets go of connections and timers; memory stores have none. */
  close(): Promise<void>;
}
