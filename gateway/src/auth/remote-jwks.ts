import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose';
import { fetchJwks } from './fetch-jwks.js';

/** A kid not in the key set triggers a refetch at most this often (jose's cooldownDuration). */
export const UNKNOWN_KID_COOLDOWN_MS = 30_000;
/** After a failed fetch, the next try waits this long: an IdP outage is not hammered, nor waited on by every request. */
export const FAILED_FETCH_RETRY_MS = 5_000;
const FETCH_TIMEOUT_MS = 3_000;

/**
 * The issuer's keys cannot be had (never fetched, past their max age, or the IdP is failing and
 * the token needs a key vigil has not seen): the gateway's problem, answered 503 and never counted
 * against the caller.
 */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

/** Which cached verifications a refetched key set no longer backs: told by kid (undefined: tokens without one). */
export type KeysRetired = (isRetired: (kid: string | undefined) => boolean) => void;

/** Told once when fetches start failing (with why) and once when one succeeds again (undefined). */
export type FetchStateChanged = (failure: string | undefined) => void;

interface KeySet {
  select: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
  /** kid → its JWK(s) as JSON, to tell a removed or replaced key from an unchanged one. */
  byKid: Map<string, string>;
  serialized: string;
}

/**
 * An issuer's remote JWKS as a key resolver for jose's jwtVerify. Written here rather than taken
 * from jose's createRemoteJWKSet, which reads a body of any size, throws its base JOSEError for an
 * HTTP 500 or bad JSON (indistinguishable from a token's fault, so it cannot be mapped fail-closed),
 * and on a failed refresh past its max age drops the keys at once. This one:
 * - fetches through fetchJwks (no redirects, 1 MiB cap, timeout, JWKS shape);
 * - refreshes in the background after half of `maxAgeMs`, and keeps serving the last good key set
 *   while the IdP fails, up to `maxAgeMs` since it was fetched; then nothing verifies (fail closed);
 * - refetches on an unknown kid at most every 30 s (counted between fetches an unknown kid caused,
 *   so a key rotated in just after a scheduled fetch is still picked up), and after a failed
 *   fetch waits 5 s before trying again;
 * - tells `onKeysRetired` which kids a new key set removed or replaced, so cached verifications
 *   made with them are dropped.
 * Key selection is jose's own createLocalJWKSet over the fetched set.
 */
export class RemoteJwks {
  private current: KeySet | undefined;
  private lastAttemptAt = -Infinity;
  /** When an unknown kid last caused a fetch (the cooldown runs from there, not from scheduled fetches). */
  private lastKidFetchAt = -Infinity;
  /** Why the last fetch failed; undefined when it succeeded. */
  private lastFailure: string | undefined;
  private pending: Promise<void> | undefined;
  private changes = 0;

  constructor(
    private readonly url: string,
    private readonly maxAgeMs: number,
    private readonly onKeysRetired: KeysRetired = () => {},
    private readonly clock: () => number = Date.now,
    private readonly onFetchStateChanged: FetchStateChanged = () => {},
  ) {}

  /** The resolver to hand to jwtVerify (a JWTVerifyGetKey). */
  readonly getKey = (header: JWSHeaderParameters, token: FlattenedJWSInput) => this.resolve(header, token);

  /**
   * For a cached verification: whether this issuer's keys are still trusted (within max age);
   * starts a background refresh when one is due, so revocations reach busy caches too.
   */
  stillTrusted(): boolean {
    const now = this.clock();
    const set = this.usable(now);
    if (set && this.refreshDue(set, now)) void this.reload();
    return set !== undefined;
  }

  /** Bumped on every change of key set: a verification that straddled one is not cached. */
  get generation(): number {
    return this.changes;
  }

  /** Why the last fetch failed, for logs and tests; undefined if it succeeded or none was made. */
  get failure(): string | undefined {
    return this.lastFailure;
  }

  private async resolve(header: JWSHeaderParameters, token: FlattenedJWSInput) {
    let set = this.usable(this.clock());
    if (!set) {
      if (this.mayFetch(this.clock())) await this.reload();
      set = this.usable(this.clock());
      if (!set) throw this.unavailable('no usable key set');
    } else if (this.refreshDue(set, this.clock())) {
      void this.reload();
    }
    try {
      return await this.select(set, header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // A kid not seen yet: the issuer may have rotated keys. Refetch, but on an unknown kid at
      // most every 30 s, so made-up kids cannot turn vigil into a load on the IdP.
      const now = this.clock();
      if (this.pending) {
        await this.pending;
      } else if (now >= this.lastKidFetchAt + UNKNOWN_KID_COOLDOWN_MS && this.mayFetch(now)) {
        this.lastKidFetchAt = now;
        await this.reload();
      } else if (this.lastFailure === undefined) {
        throw err;
      }
      // With the IdP failing, vigil cannot tell a new key from a made-up kid: unavailable, not the caller's fault.
      if (this.lastFailure !== undefined) throw this.unavailable('the key set could not be refreshed');
      set = this.usable(this.clock());
      if (!set) throw this.unavailable('no usable key set');
      return this.select(set, header, token);
    }
  }

  private async select(set: KeySet, header: JWSHeaderParameters, token: FlattenedJWSInput) {
    try {
      return await set.select(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      // The issuer published a key jose cannot import (bad parameters, a private key): its fault, not the token's.
      throw this.unavailable(`the issuer's key for this token cannot be used: ${(err as Error).message}`);
    }
  }

  private usable(now: number): KeySet | undefined {
    const set = this.current;
    return set && now - set.fetchedAt < this.maxAgeMs ? set : undefined;
  }

  private refreshDue(set: KeySet, now: number): boolean {
    return now - set.fetchedAt >= this.maxAgeMs / 2 && this.mayFetch(now);
  }

  /** A fetch may start, or one is under way to join: anything but the retry wait after a failure. */
  private mayFetch(now: number): boolean {
    return this.pending !== undefined || this.lastFailure === undefined || now >= this.lastAttemptAt + FAILED_FETCH_RETRY_MS;
  }

  private unavailable(why: string): JwksUnavailableError {
    const waitMs = this.lastFailure !== undefined ? this.lastAttemptAt + FAILED_FETCH_RETRY_MS - this.clock() : FAILED_FETCH_RETRY_MS;
    const reason = this.lastFailure !== undefined ? `${why}; last fetch: ${this.lastFailure}` : why;
    return new JwksUnavailableError(reason, Math.max(1, Math.ceil(waitMs / 1000)));
  }

  /** One fetch at a time; concurrent callers share it. Never rejects: the outcome is in the state. */
  private reload(): Promise<void> {
    this.pending ??= this.fetchOnce().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetchOnce(): Promise<void> {
    this.lastAttemptAt = this.clock();
    let next: KeySet;
    try {
      next = keySetOf(await fetchJwks(this.url, FETCH_TIMEOUT_MS), this.clock());
    } catch (err) {
      // One report per outage, not one per retry: an IdP down for an hour is one log line.
      if (this.lastFailure === undefined) this.onFetchStateChanged((err as Error).message);
      this.lastFailure = (err as Error).message;
      return;
    }
    const previous = this.current;
    this.current = next;
    if (this.lastFailure !== undefined) this.onFetchStateChanged(undefined);
    this.lastFailure = undefined;
    if (!previous || previous.serialized === next.serialized) return;
    this.changes++;
    // A kid is retired when it is gone or now names another key; a kid-less token could have
    // matched any key, so any change retires it.
    this.onKeysRetired((kid) => kid === undefined || (previous.byKid.has(kid) && previous.byKid.get(kid) !== next.byKid.get(kid)));
  }
}

function keySetOf(jwks: JSONWebKeySet, fetchedAt: number): KeySet {
  // Throws JWKSInvalid for a malformed set: a failed fetch like any other.
  const select = createLocalJWKSet(jwks);
  const byKid = new Map<string, string>();
  for (const key of jwks.keys) {
    if (typeof key.kid === 'string') byKid.set(key.kid, (byKid.get(key.kid) ?? '') + JSON.stringify(key));
  }
  return { select, fetchedAt, byKid, serialized: JSON.stringify(jwks.keys) };
}
