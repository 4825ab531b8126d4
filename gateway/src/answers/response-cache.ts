import { createHash } from 'node:crypto';
import type { InferenceRequest } from '../../../oip/src/signature.js';
import type { ServingVersion } from '../model-registry.js';

/**
 * A pool's answer as kept: its JSON header without `id` (the asking request's is spliced in on
 * each hit), the binary tensor data after it if any, and the pool's screening report (squeeze
 * reads it again on a hit).
 */
export interface CachedAnswer {
  header: Buffer;
  tail?: Buffer;
  screenReport: string | undefined;
  /** When it was kept (ms), for ttl_ms. */
  at: number;
}

/**
 * One model version's answers by request (model.yaml `response_cache`), least recently used out
 * first, each for at most `ttl_ms` when set. A Map in insertion order is the whole LRU: the hot
 * path needs nothing more, and a dependency for it would be larger than this.
 */
export class ResponseCache {
  private readonly entries = new Map<string, CachedAnswer>();

  constructor(private readonly limits: { maxEntries: number; maxEntryBytes: number; ttlMs?: number }) {}

  get(key: string, now = Date.now()): CachedAnswer | undefined {
    const found = this.entries.get(key);
    if (!found) return undefined;
    this.entries.delete(key);
    if (this.limits.ttlMs !== undefined && now - found.at > this.limits.ttlMs) return undefined;
    this.entries.set(key, found);
    return found;
  }

  /** Keeps an answer unless it (with its report) is over max_entry_bytes; false when it was not kept. */
  set(key: string, answer: CachedAnswer): boolean {
    if (sizeOf(answer) > this.limits.maxEntryBytes) return false;
    this.entries.delete(key);
    this.entries.set(key, answer);
    if (this.entries.size > this.limits.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return true;
  }

  /** Drops every kept answer (the pool restarted, or the version was loaded again). */
  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

function sizeOf(a: CachedAnswer): number {
  return a.header.length + (a.tail?.length ?? 0) + Buffer.byteLength(a.screenReport ?? '') + 64;
}

/** The cache of each version that has one; a version loaded anew is a new object, with a new, empty cache. */
export class ResponseCaches {
  private readonly caches = new WeakMap<ServingVersion, ResponseCache>();

  of(v: ServingVersion): ResponseCache | undefined {
    const config = v.config.response_cache;
    if (!config) return undefined;
    let cache = this.caches.get(v);
    if (!cache) {
      cache = new ResponseCache({ maxEntries: config.max_entries, maxEntryBytes: config.max_entry_bytes, ttlMs: config.ttl_ms });
      this.caches.set(v, cache);
    }
    return cache;
  }

  /** Forgets a version's answers (its pool restarted, or it was loaded again). */
  clear(v: ServingVersion): void {
    this.caches.get(v)?.clear();
  }
}

/**
 * What makes two requests the same to a model: their inputs (name, datatype, shape, parameters,
 * values), the outputs and parameters asked for, and whether the body was binary; never `id` or
 * `model_name`. Values decoded from binary data are hashed as their bytes, -0 apart from 0; each
 * part is length-prefixed so no two requests run together into one key.
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
    part(ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : JSON.stringify(data, negativeZero));
  }
  return hash.digest('base64');
}

function negativeZero(_key: string, value: unknown): unknown {
  return typeof value === 'number' && Object.is(value, -0) ? '-0' : value;
}

/**
 * What of a pool's 200 answer is kept, or null when it is not an answer to keep: its header must
 * be a JSON object with `outputs`, and when the request had an `id` the header must hold exactly
 * that id, which is cut out of the text (the rest of the bytes stay as the pool wrote them: no
 * number is re-formatted). Checked once here, so a hit never parses anything.
 */
export function keepable(body: Buffer, headerLength: number | undefined, id: string | undefined): { header: Buffer; tail?: Buffer } | null {
  const end = headerLength ?? body.length;
  if (end > body.length) return null;
  const text = body.subarray(0, end).toString('utf8');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header) || !Array.isArray((header as { outputs?: unknown }).outputs)) return null;
  let without = text;
  if ('id' in header) {
    if ((header as { id?: unknown }).id !== id) return null;
    const member = `"id":${JSON.stringify(id)}`;
    const at = text.indexOf(member);
    if (at < 0 || text.indexOf(member, at + 1) >= 0) return null;
    const after = text[at + member.length] === ',' ? 1 : 0;
    const before = !after && text[at - 1] === ',' ? 1 : 0;
    without = text.slice(0, at - before) + text.slice(at + member.length + after);
    try {
      const check = JSON.parse(without) as Record<string, unknown>;
      if ('id' in check) return null;
    } catch {
      return null;
    }
  } else if (id !== undefined) return null;
  if (!without.startsWith('{')) return null;
  return { header: Buffer.from(without), ...(headerLength === undefined ? {} : { tail: body.subarray(end) }) };
}

/** A kept answer under the id of the request it now answers (OIP echoes `id`), or none: text spliced, nothing parsed. */
export function answerFor(cached: CachedAnswer, id: string | undefined): { body: Buffer; headerLength?: number } {
  let header = cached.header;
  if (id !== undefined) {
    const member = `"id":${JSON.stringify(id)}`;
    const empty = header.length === 2; // "{}"
    header = Buffer.concat([Buffer.from(`{${member}${empty ? '' : ','}`), header.subarray(1)]);
  }
  return cached.tail === undefined ? { body: header } : { body: Buffer.concat([header, cached.tail]), headerLength: header.length };
}
