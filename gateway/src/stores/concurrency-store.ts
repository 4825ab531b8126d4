// In-flight slots: at most `max` held at once per key (requests in flight per caller). vigil's own
// types; every method returns a promise so a shared store (Redis, for replicas) can stand in.
// Proven by test/contracts/concurrency-store.contract.ts.

/** One held slot. Plain data, so a shared store can name it (a lease id in a set). */
export interface SlotLease {
  readonly key: string;
  readonly id: string;
}

export interface ConcurrencyStore {
  /** The config kind that selects this store (`limits.store.kind`). */
  readonly kind: string;
  /**
   * Takes one of `key`'s `max` slots, or resolves to undefined when all are held. Never more than
   * `max` held at once, however many callers acquire together.
   */
  acquire(key: string, max: number): Promise<SlotLease | undefined>;
  /** Gives the slot back. Idempotent: releasing a lease again frees nothing more. */
  release(lease: SlotLease): Promise<void>;
  /** Slots of `key` held now. */
  held(key: string): Promise<number>;
  /** Lets go of connections and timers; memory stores have none. */
  close(): Promise<void>;
}
