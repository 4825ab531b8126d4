// The state seam of the extraction detector. Per key (`${principal}\u0000${model}`) it holds PRADA's
// growing sets and distance history plus the windows of the simpler signals. The state is plain
// data (numbers, arrays, Float32Array vectors; structuredClone-able) so a shared store (e.g. Redis,
// for replicas) can serialise it; every method returns a promise for the same reason. The gateway
// picks the store from its config (`screening.store`, gateway/src/stores/create-stores.ts);
// test/contracts/extraction-store.contract.ts is what every store must pass.

/** One class's PRADA growing set G_c. */
export interface GrowingSet {
  /** Member query vectors, oldest first. */
  members: Float32Array[];
  /** members[i]'s d_min when it joined (0 for the class's first query), as PRADA keeps them. */
  memberDists: number[];
  /** Arrival number (ExtractionState.queries at the time) of each member; orders eviction across classes. */
  memberSeq: number[];
  /** T_c: a query joins G_c only when its d_min exceeds this. Only ever grows. */
  threshold: number;
}

export interface ExtractionState {
  /** Queries observed for this key. */
  queries: number;
  /** Growing sets by predicted class. */
  classes: Record<number, GrowingSet>;
  /** PRADA's distance set D, oldest first (capped: the oldest drop), with the class each came from. */
  dists: number[];
  distClasses: number[];
  /** New distances since PRADA last tested. */
  sinceTest: number;
  /** The last PRADA test, re-reported until the next one. */
  prada?: { w: number; n: number; degenerate: boolean; mean: number; std: number };
  /** Arrival times (ms) of recent queries, for the volume signal; pruned to its window. */
  times: number[];
  /** Recent per-query flags, oldest first, at most the detector's window long. */
  nearDup: number[];
  lowConf: number[];
  /** 1 flagged, 0 passed; only queries the profile detector actually screened. */
  outOfProfile: number[];
  /** How close its latest findings came to their thresholds (the largest score / threshold): a bounded store evicts the least suspicious first. */
  suspicion?: number;
}

export function emptyState(): ExtractionState {
  return { queries: 0, classes: {}, dists: [], distClasses: [], sinceTest: 0, times: [], nearDup: [], lowConf: [], outOfProfile: [] };
}

export function extractionKey(principal: string, model: string): string {
  return `${principal}\u0000${model}`;
}

export interface ExtractionStore {
  /** The config kind that selects this store (`screening.store.kind` in the gateway's config). */
  readonly kind: string;
  /**
   * Runs `fn` on the key's state (a fresh emptyState() if absent), keeps what it made of it and
   * resolves to `fn`'s result. Updates of one key must not interleave or be lost: a shared store
   * has to serialise them (lock, or WATCH/MULTI and retry, which may run `fn` more than once).
   */
  update<T>(key: string, fn: (state: ExtractionState) => T): Promise<T>;
  delete(key: string): Promise<void>;
  /** Number of keys held. */
  size(): Promise<number>;
  /** Keys dropped to stay within bounds before their time, since start (`vigil_screening_evictions_total`). */
  evictions(): number;
  /** Lets go of connections and timers; memory stores have none. */
  close(): Promise<void>;
}

export interface MemoryStoreOptions {
  /** Keys kept; the least recently updated is evicted beyond this. */
  maxPrincipals?: number;
  /** Query vectors kept per key, across all its growing sets. */
  maxSamplesPerPrincipal?: number;
}

/** How many of the least recently updated states eviction looks at, to drop the least suspicious. */
const EVICTION_SAMPLE = 16;

/**
 * In-process store for one gateway replica. Bounded: memory is at most about
 * maxPrincipals × maxSamplesPerPrincipal × features × 4 bytes (defaults, 784 features: ~157 MB).
 * Past maxPrincipals it drops, of the 16 least recently updated states, the least suspicious: a
 * flood of fresh principals pushes out idle, clean histories before one that is close to an alarm.
 */
export class MemoryExtractionStore implements ExtractionStore {
  readonly kind = 'memory';
  readonly maxPrincipals: number;
  readonly maxSamplesPerPrincipal: number;
  // A Map iterates in insertion order: re-inserting on access makes its first key the LRU one.
  private readonly states = new Map<string, ExtractionState>();
  private evicted = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxPrincipals = options.maxPrincipals ?? 100;
    this.maxSamplesPerPrincipal = options.maxSamplesPerPrincipal ?? 500;
    if (!(this.maxPrincipals >= 1) || !(this.maxSamplesPerPrincipal >= 1)) throw new Error('MemoryExtractionStore: bounds must be >= 1');
  }

  // `fn` runs synchronously inside, so updates of one key never interleave.
  async update<T>(key: string, fn: (state: ExtractionState) => T): Promise<T> {
    let state = this.states.get(key);
    if (state) this.states.delete(key);
    else state = emptyState();
    this.states.set(key, state);
    while (this.states.size > this.maxPrincipals) this.evictOne(key);
    const result = fn(state);
    trimSamples(state, this.maxSamplesPerPrincipal);
    return result;
  }

  /** Drops the least suspicious of the least recently updated states, never the one being updated. */
  private evictOne(keep: string): void {
    let victim: string | undefined;
    let lowest = Infinity;
    let n = 0;
    for (const [key, state] of this.states) {
      if (key === keep) continue;
      const s = state.suspicion ?? 0;
      if (s < lowest) [victim, lowest] = [key, s];
      if (++n >= EVICTION_SAMPLE) break;
    }
    if (victim === undefined) return;
    this.states.delete(victim);
    this.evicted++;
  }

  async delete(key: string): Promise<void> {
    this.states.delete(key);
  }

  async size(): Promise<number> {
    return this.states.size;
  }

  evictions(): number {
    return this.evicted;
  }

  async close(): Promise<void> {}
}

/**
 * Drops the oldest growing-set members (across classes) until at most `max` remain. PRADA then
 * measures new queries against the recent past only: an attacker gains nothing by it, since its
 * recent queries are what give it away, and a benign client's distances stay those of natural data.
 * T_c is a running maximum and is kept.
 */
export function trimSamples(state: ExtractionState, max: number): void {
  const sets = Object.values(state.classes);
  let total = 0;
  for (const g of sets) total += g.members.length;
  while (total > max) {
    let oldest: GrowingSet | undefined;
    for (const g of sets) if (g.members.length > 0 && (!oldest || g.memberSeq[0] < oldest.memberSeq[0])) oldest = g;
    if (!oldest) return;
    // Keep at least one member per class: the growing set needs it to measure d_min at all.
    if (oldest.members.length === 1) {
      const others = sets.filter((g) => g.members.length > 1);
      if (others.length === 0) return;
      oldest = others.reduce((o, g) => (g.memberSeq[0] < o.memberSeq[0] ? g : o));
    }
    oldest.members.shift();
    oldest.memberDists.shift();
    oldest.memberSeq.shift();
    total--;
  }
}
