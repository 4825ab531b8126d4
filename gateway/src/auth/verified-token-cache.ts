import type { Principal } from './principal.js';

/**
 * Tokens already verified, keyed by the whole token string, so a repeat caller skips the ~100 µs
 * RS256/ES256 check. Bounded (oldest evicted first) and never used at or past the token's `exp`.
 * Written by hand: a Map in insertion order is all the LRU this needs on the hot path.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { principal: Principal; exp: number }>();

  constructor(private readonly capacity: number) {}

  get(token: string, nowSeconds: number): Principal | undefined {
    const hit = this.entries.get(token);
    if (!hit) return undefined;
    if (nowSeconds >= hit.exp) {
      this.entries.delete(token);
      return undefined;
    }
    return hit.principal;
  }

  set(token: string, principal: Principal, exp: number): void {
    if (this.capacity === 0) return;
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { principal, exp });
  }

  get size(): number {
    return this.entries.size;
  }
}
