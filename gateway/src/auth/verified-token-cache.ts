import type { Principal } from './principal.js';

interface Verified {
  principal: Principal;
  exp: number;
  /** The key that verified it, so that removing the key from the issuer's JWKS revokes it here too. */
  issuer: string;
  kid: string | undefined;
}

/**
 * Tokens already verified, keyed by the whole token string, so a repeat caller skips the ~100 µs
 * RS256/ES256 check. Bounded (oldest evicted first) and never used at or past the token's `exp`.
 * Written by hand: a Map in insertion order is all the LRU this needs on the hot path.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Verified>();

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

  set(token: string, principal: Principal, exp: number, key: { issuer: string; kid: string | undefined }): void {
    if (this.capacity === 0) return;
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { principal, exp, issuer: key.issuer, kid: key.kid });
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  /**
   * Drops every token of `issuer` verified with a key the issuer no longer publishes. A full scan:
   * it runs when a refetched key set differs, not per request.
   */
  evictRetiredKeys(issuer: string, isRetired: (kid: string | undefined) => boolean): number {
    let evicted = 0;
    for (const [token, v] of this.entries) {
      if (v.issuer === issuer && isRetired(v.kid)) {
        this.entries.delete(token);
        evicted++;
      }
    }
    return evicted;
  }

  get size(): number {
    return this.entries.size;
  }
}
