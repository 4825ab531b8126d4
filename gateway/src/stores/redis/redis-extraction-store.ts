import { randomUUID } from 'node:crypto';
import { decodeState, encodeState } from '../../../../detectors/src/extraction/extraction-codec.js';
import { emptyState, trimSamples, type ExtractionState, type ExtractionStore } from '../../../../detectors/src/extraction/extraction-store.js';
import type { RedisConnection } from './redis-connection.js';

// Compare-and-set on a version token (random, so a key deleted and written again never matches an
// old read): the detector's update is JavaScript and cannot run in Redis, so it runs here and
// is written back only if no replica wrote the key meanwhile; otherwise it runs again on the new
// state. The index keeps keys by last update, to count them and evict the least recently used.
// The evicted states' keys are named from ARGV (with the prefix): fine on one server, not on a cluster.
const WRITE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local v = redis.call('HGET', KEYS[1], 'v') or ''
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'm', ARGV[3], 'x', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[8] .. 'x:' .. old[i]) end
  return 1 + over
end
return 1`;

const SIZE = `
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])`;

export interface RedisExtractionOptions {
  /** Keys kept; the least recently updated go first beyond it. */
  maxPrincipals: number;
  /** Query vectors kept per key. */
  maxSamplesPerPrincipal: number;
  /** A key not updated for this long is forgotten. */
  idleMs: number;
  /** The connection's key prefix (the evicted keys are named in the script). */
  keyPrefix: string;
  /** An update not done this long after it was asked for (queueing, retries) fails. */
  updateDeadlineMs: number;
}

/** Tries of one update against concurrent writers before it fails (the failure mode then decides). */
const MAX_TRIES = 20;

/**
 * The extraction detector's state in Redis: an attacker spreading its queries over replicas is
 * seen as one. Each update reads and writes the caller's whole state (at most maxSamplesPerPrincipal
 * × features × 4 bytes), so it costs more than the memory store; see README, Running more than one vigil.
 */
export class RedisExtractionStore implements ExtractionStore {
  readonly kind = 'redis';
  private readonly writeScript;
  private readonly sizeScript;
  /** Updates of one key in this process queue behind each other, so they never race among themselves. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** States this replica evicted (each replica counts its own; the metric sums them). */
  private evicted = 0;

  constructor(
    private readonly conn: RedisConnection,
    private readonly opts: RedisExtractionOptions,
  ) {
    conn.use();
    this.writeScript = conn.script('vigilExtractionWrite', 2, WRITE);
    this.sizeScript = conn.script('vigilExtractionSize', 1, SIZE);
  }

  update<T>(key: string, fn: (state: ExtractionState) => T): Promise<T> {
    const before = this.queues.get(key) ?? Promise.resolve();
    // One deadline from the call, queueing included: a slow Redis must not make the Nth update of
    // a busy caller wait N command timeouts.
    const deadline = Date.now() + this.opts.updateDeadlineMs;
    const run = before.then(
      () => this.tryUpdate(key, fn, deadline),
      () => this.tryUpdate(key, fn, deadline),
    );
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  /** A state that does not decode (written by someone else, or corrupt) is dropped: the caller starts afresh, overwriting it. */
  private decodeOrEmpty(meta: Buffer, vectors: Buffer): ExtractionState {
    try {
      return decodeState(meta.toString(), vectors, this.opts.maxSamplesPerPrincipal);
    } catch {
      return emptyState();
    }
  }

  private async tryUpdate<T>(key: string, fn: (state: ExtractionState) => T, deadline: number): Promise<T> {
    const k = `x:${key}`;
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      if (Date.now() > deadline) throw new Error(`the extraction state of one caller could not be updated within ${this.opts.updateDeadlineMs} ms`);
      const [version, meta, vectors] = await this.conn.client.hmgetBuffer(k, 'v', 'm', 'x');
      const state = meta && vectors ? this.decodeOrEmpty(meta, vectors) : emptyState();
      const result = fn(state);
      trimSamples(state, this.opts.maxSamplesPerPrincipal);
      const encoded = encodeState(state);
      const ok = await this.writeScript(k, INDEX, version?.toString() ?? '', randomUUID(), encoded.meta, encoded.vectors, this.opts.idleMs, key, this.opts.maxPrincipals, this.opts.keyPrefix);
      // 1: written; 1 + n: written, and n least recently used callers' states evicted to make room.
      if (typeof ok === 'number' && ok >= 1) {
        this.evicted += ok - 1;
        return result;
      }
      // Another replica wrote it meanwhile: back off a little, then run fn on what it wrote.
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
    throw new Error(`the extraction state of one caller kept changing under ${MAX_TRIES} tries`);
  }

  async delete(key: string): Promise<void> {
    await this.conn.client.multi().del(`x:${key}`).zrem(INDEX, key).exec();
  }

  async size(): Promise<number> {
    return (await this.sizeScript(INDEX, this.opts.idleMs)) as number;
  }

  evictions(): number {
    return this.evicted;
  }

  close(): Promise<void> {
    return this.conn.release();
  }
}

const INDEX = 'x-index';
