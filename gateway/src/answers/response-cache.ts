import { createHash } from 'node:crypto';
import type { InferenceRequest } from '../../../oip/src/signature.js';
import type { ServingVersion } from '../model-registry.js';

/** A pool's answer as kept: the bytes as the pool sent them, and its screening report (squeeze reads it again on a hit). */
export interface CachedAnswer {
  body: Buffer;
  headerLength?: number;
  screenReport: string | undefined;
}

/**
 * One model version's answers by request (model.yaml `response_cache`), least recently used out
 * first. A Map in insertion order is the whole LRU: the hot path needs nothing more, and a
 * dependency for it would be larger than this.
 */
export class ResponseCache {
  private readonly entries = new Map<string, CachedAnswer>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxEntryBytes: number,
  ) {}

  get(key: string): CachedAnswer | undefined {
    const found = this.entries.get(key);
    if (found) {
      this.entries.delete(key);
      this.entries.set(key, found);
    }
    return found;
  }

  /** Keeps an answer unless it is over max_entry_bytes; false when it was not kept. */
  set(key: string, answer: CachedAnswer): boolean {
    if (answer.body.length > this.maxEntryBytes) return false;
    this.entries.delete(key);
    this.entries.set(key, answer);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return true;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The cache of each version that has one; a version loaded anew is a new object, with a new, empty cache. */
export class ResponseCaches {
  private readonly caches = new WeakMap<ServingVersion, ResponseCache>();

  of(v: ServingVersion): ResponseCache | undefined {
    const config = v.config.response_cache;
    if (!config) return undefined;
    let cache = this.caches.get(v);
    if (!cache) {
      cache = new ResponseCache(config.max_entries, config.max_entry_bytes);
      this.caches.set(v, cache);
    }
    return cache;
  }
}

/**
 * What makes two requests the same to a model: their inputs (name, datatype, shape, parameters,
 * values), the outputs and parameters asked for, and whether the body was binary; never `id` or
 * `model_name`. Values decoded from binary data are hashed as their bytes; each part is
 * length-prefixed so no two requests run together into one key.
 */
export function requestKey(req: InferenceRequest, binary: boolean): string {
  const hash = createHash('sha256');
  const part = (bytes: string | Uint8Array) => {
    const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    hash.update(`${b.byteLength}:`);
    hash.update(b);
  };
  part(binary ? 'binary' : 'json');
  part(JSON.stringify([req.parameters ?? null, req.outputs ?? null]));
  for (const t of req.inputs) {
    part(JSON.stringify([t.name, t.datatype, t.shape, t.parameters ?? null]));
    const data: unknown = t.data;
    part(ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : JSON.stringify(data));
  }
  return hash.digest('base64');
}

/** A kept answer given the id of the request it now answers (OIP echoes `id`), or none. */
export function answerFor(cached: CachedAnswer, id: string | undefined): { body: Buffer; headerLength?: number } {
  const end = cached.headerLength ?? cached.body.length;
  const header = JSON.parse(cached.body.subarray(0, end).toString('utf8')) as Record<string, unknown>;
  if (id === undefined) delete header.id;
  else header.id = id;
  const json = Buffer.from(JSON.stringify(header));
  return cached.headerLength === undefined ? { body: json } : { body: Buffer.concat([json, cached.body.subarray(end)]), headerLength: json.length };
}
