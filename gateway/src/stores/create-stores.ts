import { MemoryExtractionStore, type ExtractionStore } from '../../../detectors/src/extraction/index.js';
import type { VigilConfig } from '../config/schema.js';
import type { AuthFailureStore } from './auth-failure-store.js';
import type { ConcurrencyStore } from './concurrency-store.js';
import { MemoryAuthFailureStore } from './memory-auth-failure-store.js';
import { MemoryConcurrencyStore } from './memory-concurrency-store.js';
import { MemoryQuarantineStore } from './memory-quarantine-store.js';
import { MemoryRateLimitStore } from './memory-rate-limit-store.js';
import type { QuarantineStore } from './quarantine-store.js';
import type { RateLimitStore } from './rate-limit-store.js';

/** Every kind of state the gateway shares between requests (and, with a shared store, between replicas). */
export interface Stores {
  /** Rate-limit counters (`limits.store`). */
  rateLimits: RateLimitStore;
  /** In-flight slots (`limits.store`). */
  concurrency: ConcurrencyStore;
  /** Quarantined callers (`screening.store`). */
  quarantine: QuarantineStore;
  /** The extraction detector's per-caller state (`screening.store`). */
  extraction: ExtractionStore;
  /** Auth-failure counters and blocks (`auth.failures.store`). */
  authFailures: AuthFailureStore;
}

/** The config sections that choose the stores. */
export interface StoresConfig {
  limits: VigilConfig['limits'];
  screening: VigilConfig['screening'];
  auth: { failures: Pick<VigilConfig['auth']['failures'], 'store'> };
}

/**
 * The extraction state kept in memory: ~64 callers × 256 vectors × 784 features × 4 bytes ≈ 51 MB
 * at most for mnist (detectors/README.md).
 */
const EXTRACTION_MEMORY_BOUNDS = { maxPrincipals: 64, maxSamplesPerPrincipal: 256 };

/**
 * Builds the stores the config names. Async because a shared store connects before vigil serves;
 * `close` lets go of what was built here.
 */
export async function createStores(config: StoresConfig): Promise<Stores & { close(): Promise<void> }> {
  const limits = config.limits.store;
  const screening = config.screening.store;
  const failures = config.auth.failures.store;
  const stores: Stores = {
    ...limitStores(limits.kind),
    ...screeningStores(screening.kind),
    authFailures: authFailureStore(failures.kind),
  };
  return {
    ...stores,
    async close() {
      await Promise.all(Object.values(stores).map((s: { close(): Promise<void> }) => s.close()));
    },
  };
}

function limitStores(kind: VigilConfig['limits']['store']['kind']): Pick<Stores, 'rateLimits' | 'concurrency'> {
  switch (kind) {
    case 'memory':
      return { rateLimits: new MemoryRateLimitStore(), concurrency: new MemoryConcurrencyStore() };
    default:
      return unknownKind('limits.store', kind);
  }
}

function screeningStores(kind: VigilConfig['screening']['store']['kind']): Pick<Stores, 'quarantine' | 'extraction'> {
  switch (kind) {
    case 'memory':
      return { quarantine: new MemoryQuarantineStore(), extraction: new MemoryExtractionStore(EXTRACTION_MEMORY_BOUNDS) };
    default:
      return unknownKind('screening.store', kind);
  }
}

function authFailureStore(kind: VigilConfig['auth']['failures']['store']['kind']): AuthFailureStore {
  switch (kind) {
    case 'memory':
      return new MemoryAuthFailureStore();
    default:
      return unknownKind('auth.failures.store', kind);
  }
}

/** The schema refuses unknown kinds; this catches a config built by hand (or a kind added to the schema but not here). */
function unknownKind(path: string, kind: never): never {
  throw new Error(`${path}.kind: unknown store kind ${JSON.stringify(kind)}`);
}
