// Rate-limit counters: windowed points per key. vigil's own types, so a store can be swapped (memory
// today, a shared one such as Redis for replicas) without its library showing through. Every
// method may reach a remote store, so every method returns a promise. Proven by
// test/contracts/rate-limit-store.contract.ts.

/** A budget of `points` per fixed window of `windowMs`, the window starting at a key's first consume. */
export interface Quota {
  points: number;
  windowMs: number;
}

/** Where a key's counter stands in its current window. */
export interface CounterState {
  /** Points taken in the current window. */
  consumed: number;
  /** Points left in it, never below 0. */
  remaining: number;
  /** Milliseconds until the window ends and the counter starts afresh; 0 when no window is open. */
  resetMs: number;
}

/** A consume's outcome: `ok` when its points were taken; refused, where the counter stands without them. */
export type ConsumeResult = CounterState & { ok: boolean };

export interface RateLimitStore {
  /** The config kind that selects this store (`limits.store.kind`). */
  readonly kind: string;
  /**
   * Takes `cost` points from `key`'s quota if they fit, all or nothing: a refused consume leaves
   * the counter where it was once it has resolved. Exact under concurrent callers: with a quota of
   * L and N > L simultaneous consumes of 1, exactly L succeed. A key is always used with the same
   * quota (callers put the quota in the key).
   */
  consume(key: string, cost: number, quota: Quota): Promise<ConsumeResult>;
  /** Gives back `cost` points taken in the current window (a request refused at a later step costs nothing). */
  refund(key: string, cost: number, quota: Quota): Promise<void>;
  /** Where `key` stands, taking nothing. */
  get(key: string, quota: Quota): Promise<CounterState>;
  /** Lets go of connections and timers; memory stores have none. */
  close(): Promise<void>;
}
