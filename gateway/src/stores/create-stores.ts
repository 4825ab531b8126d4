import { MemoryBudgetStore, type BudgetStore } from '../../../detectors/src/budget/budget-store.js';
import { MemoryExtractionStore, type ExtractionStore } from '../../../detectors/src/extraction/index.js';
import type { Logger } from 'pino';
import type { VigilConfig } from '../config/schema.js';
import type { AuthFailureStore } from './auth-failure-store.js';
import type { ConcurrencyStore } from './concurrency-store.js';
import { MemoryAuthFailureStore } from './memory-auth-failure-store.js';
import { MemoryConcurrencyStore } from './memory-concurrency-store.js';
import { MemoryQuarantineStore } from './memory-quarantine-store.js';
import { MemoryRateLimitStore } from './memory-rate-limit-store.js';
import { RedisAuthFailureStore } from './redis/redis-auth-failure-store.js';
import { RedisBudgetStore } from './redis/redis-budget-store.js';
import { RedisConcurrencyStore } from './redis/redis-concurrency-store.js';
import { RedisConnection, redact } from './redis/redis-connection.js';
import { RedisExtractionStore } from './redis/redis-extraction-store.js';
import { RedisQuarantineStore } from './redis/redis-quarantine-store.js';
import { RedisRateLimitStore } from './redis/redis-rate-limit-store.js';
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
  /** The budget detector's distinct-row counters (`screening.store`). */
  budget: BudgetStore;
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
 * In Redis every update moves the caller's whole state (at most 128 × 784 × 4 bytes ≈ 400 KB for
 * mnist) both ways, so fewer vectors per caller (2,000 callers × 400 KB ≈ 800 MB at most:
 * size the server, or lower it).
 */
const EXTRACTION_REDIS_BOUNDS = { maxPrincipals: 2_000, maxSamplesPerPrincipal: 128 };

/**
 * Builds the stores the config names. Async because a shared store connects before vigil serves;
 * `close` lets go of what was built here.
 */
/** Whether each store can be reached right now (`vigil_store_up`): a memory store always can. */
export interface StoreHealth {
  store: 'rate_limits' | 'concurrency' | 'quarantine' | 'extraction' | 'budget' | 'auth_failures';
  kind: string;
  up: boolean;
  /** States dropped to stay within bounds (stores that evict). */
  evictions?: number;
}

export async function createStores(config: StoresConfig, log?: Logger): Promise<Stores & { close(): Promise<void>; health(): StoreHealth[] }> {
  const connections = new Map<string, Promise<RedisConnection>>();
  const built: { close(): Promise<void> }[] = [];
  try {
    const stores: Stores = {
      ...(await limitStores(config.limits.store, connections, log)),
      ...(await screeningStores(config.screening.store, connections, log)),
      authFailures: await authFailureStore(config.auth.failures.store, connections, log),
    };
    built.push(...Object.values(stores));
    const connectionOf = async (cfg: StoreConfig) => (cfg.kind === 'redis' ? await connect(cfg, connections, log) : undefined);
    const limitsConn = await connectionOf(config.limits.store);
    const screeningConn = await connectionOf(config.screening.store);
    const failuresConn = await connectionOf(config.auth.failures.store);
    const up = (conn: RedisConnection | undefined) => conn === undefined || conn.ready;
    return {
      ...stores,
      async close() {
        await Promise.all(built.map((s) => s.close()));
      },
      health: () => [
        { store: 'rate_limits', kind: stores.rateLimits.kind, up: up(limitsConn) },
        { store: 'concurrency', kind: stores.concurrency.kind, up: up(limitsConn) },
        { store: 'quarantine', kind: stores.quarantine.kind, up: up(screeningConn) },
        { store: 'extraction', kind: stores.extraction.kind, up: up(screeningConn), evictions: stores.extraction.evictions() },
        { store: 'budget', kind: stores.budget.kind, up: up(screeningConn), evictions: stores.budget.evictions() },
        { store: 'auth_failures', kind: stores.authFailures.kind, up: up(failuresConn) },
      ],
    };
  } catch (err) {
    // A store that cannot be reached fails the start; let go of the connections already made.
    await Promise.all([...connections.values()].map(async (c) => (await c.catch(() => undefined))?.client.disconnect()));
    throw err;
  }
}

type StoreConfig = VigilConfig['limits']['store'];
type RedisConfig = Extract<StoreConfig, { kind: 'redis' }>;

/** One connection per server and key prefix, shared by every store that names them. */
function connect(cfg: RedisConfig, connections: Map<string, Promise<RedisConnection>>, log: Logger | undefined): Promise<RedisConnection> {
  // Stores that name the same server with other timeouts get their own connection, so each keeps its settings.
  const id = `${cfg.url} ${cfg.key_prefix} ${cfg.command_timeout_ms} ${cfg.connect_timeout_ms}`;
  let conn = connections.get(id);
  if (!conn) {
    // An outage is logged when it starts and when it ends; each request it fails is in the audit log.
    const onStateChange = (up: boolean, err?: Error) =>
      up ? log?.info({ redis: redact(cfg.url) }, 'redis store reachable again') : log?.error({ redis: redact(cfg.url), err }, 'redis store unreachable; requests follow on_store_failure');
    conn = RedisConnection.open({ url: cfg.url, keyPrefix: cfg.key_prefix, commandTimeoutMs: cfg.command_timeout_ms, connectTimeoutMs: cfg.connect_timeout_ms, onStateChange });
    connections.set(id, conn);
  }
  return conn;
}

async function limitStores(cfg: StoreConfig, connections: Map<string, Promise<RedisConnection>>, log: Logger | undefined): Promise<Pick<Stores, 'rateLimits' | 'concurrency'>> {
  switch (cfg.kind) {
    case 'memory':
      return { rateLimits: new MemoryRateLimitStore(), concurrency: new MemoryConcurrencyStore() };
    case 'redis': {
      const conn = await connect(cfg, connections, log);
      return { rateLimits: new RedisRateLimitStore(conn), concurrency: new RedisConcurrencyStore(conn, cfg.slot_lease_ms) };
    }
    default:
      return unknownKind('limits.store', cfg);
  }
}

async function screeningStores(cfg: StoreConfig, connections: Map<string, Promise<RedisConnection>>, log: Logger | undefined): Promise<Pick<Stores, 'quarantine' | 'extraction' | 'budget'>> {
  switch (cfg.kind) {
    case 'memory':
      return { quarantine: new MemoryQuarantineStore(), extraction: new MemoryExtractionStore(EXTRACTION_MEMORY_BOUNDS), budget: new MemoryBudgetStore() };
    case 'redis': {
      const conn = await connect(cfg, connections, log);
      return {
        quarantine: new RedisQuarantineStore(conn),
        extraction: new RedisExtractionStore(conn, { ...EXTRACTION_REDIS_BOUNDS, idleMs: cfg.idle_ms, keyPrefix: cfg.key_prefix, updateDeadlineMs: 2 * cfg.command_timeout_ms }),
        budget: new RedisBudgetStore(conn),
      };
    }
    default:
      return unknownKind('screening.store', cfg);
  }
}

async function authFailureStore(cfg: StoreConfig, connections: Map<string, Promise<RedisConnection>>, log: Logger | undefined): Promise<AuthFailureStore> {
  switch (cfg.kind) {
    case 'memory':
      return new MemoryAuthFailureStore();
    case 'redis':
      return new RedisAuthFailureStore(await connect(cfg, connections, log));
    default:
      return unknownKind('auth.failures.store', cfg);
  }
}

/** The schema refuses unknown kinds; this catches a config built by hand (or a kind added to the schema but not here). */
function unknownKind(path: string, cfg: never): never {
  throw new Error(`${path}.kind: unknown store kind ${JSON.stringify((cfg as { kind: unknown }).kind)}`);
}
