import { VigilError } from '../errors.js';

export interface GlobalBoundsConfig {
  /** Requests being handled at once, across every caller. */
  maxInflight: number;
  /** Bytes of request bodies held in memory at once (reading, validating, waiting on the pool). */
  maxBufferedBodyBytes: number;
}

/**
 * Bounds across every caller: per-caller limits cannot stop many callers together (100
 * principals × 4 MB bodies once took the gateway and pools from 0.5 to 2.6 GB). Past a bound a
 * request is refused at once with 503 OVERLOADED, before its body is read, so the refusal itself
 * costs almost nothing. Counted here, read by metrics; one event loop, so plain numbers suffice.
 */
export class GlobalBounds {
  inflight = 0;
  bufferedBytes = 0;
  /** Refusals per bound since start, for the metric. */
  readonly refused = { inflight: 0, body_bytes: 0 };

  constructor(readonly config: GlobalBoundsConfig) {}

  /** One more request in the pipeline; false (and not counted) when at the bound. */
  enter(): boolean {
    if (this.inflight >= this.config.maxInflight) {
      this.refused.inflight++;
      return false;
    }
    this.inflight++;
    return true;
  }

  leave(): void {
    this.inflight--;
  }

  /**
   * Reserves `bytes` of body buffer; throws OVERLOADED when they do not fit. The caller releases
   * what it reserved once the request is over (its bytes are held until then). A `large` body may
   * fill only three quarters of the bound: the rest is kept for small requests, so callers
   * uploading large bodies cannot take the bound from everyone else.
   */
  reserve(bytes: number, large = false): void {
    const limit = large ? Math.floor(this.config.maxBufferedBodyBytes * 0.75) : this.config.maxBufferedBodyBytes;
    if (this.bufferedBytes + bytes > limit) {
      this.refused.body_bytes++;
      throw overloaded(`request bodies already buffered fill vigil's bound (server.max_buffered_body_bytes = ${this.config.maxBufferedBodyBytes})`);
    }
    this.bufferedBytes += bytes;
  }

  release(bytes: number): void {
    this.bufferedBytes -= bytes;
  }
}

/** 503 OVERLOADED; the connection is closed so a flood does not keep its sockets. */
export function overloaded(why: string): VigilError {
  return new VigilError('OVERLOADED', `vigil is overloaded: ${why}; retry shortly`, { 'retry-after': '1', connection: 'close' });
}
