import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Logger } from 'pino';
import type { VigilConfig } from '../config/schema.js';
import { VigilError, type ErrorCode } from '../errors.js';
import { DEV_ALGORITHM, DEV_AUDIENCE, DEV_ISSUER, type DevSigningKey } from './dev-signing-key.js';
import type { Principal } from './principal.js';
import { JwksUnavailableError, RemoteJwks } from './remote-jwks.js';
import { rolesFromClaims } from './roles-claim.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

type IssuerConfig = VigilConfig['auth']['issuers'][number];

interface Issuer {
  config: IssuerConfig;
  keys: JWTVerifyGetKey;
  /** Set for a jwks_url issuer: its keys can change (and expire) under cached verifications. */
  remote?: RemoteJwks;
}

/** Header parameters that point at keys: a token never gets to choose the key that verifies it. */
const KEY_CARRYING_HEADERS = ['jku', 'x5u', 'x5c', 'jwk'] as const;

function reject(code: Exclude<ErrorCode, 'JWKS_UNAVAILABLE'>, message: string): VigilError {
  return new VigilError(code, message, { 'www-authenticate': 'Bearer error="invalid_token"' });
}

/**
 * Verifies bearer JWTs with `jose`, pinning what jose leaves open: the issuer (chosen from the
 * configured ones, never from a URL in the token), audience, algorithm allowlist, `exp` and `sub`
 * required, clock tolerance, maximum lifetime, size cap and optional `typ`.
 */
export class JwtAuthenticator {
  private constructor(
    private readonly issuers: Map<string, Issuer>,
    private readonly maxTokenBytes: number,
    private readonly cache: VerifiedTokenCache,
  ) {}

  static async create(auth: VigilConfig['auth'], devKey: DevSigningKey | undefined, log?: Pick<Logger, 'error' | 'info'>): Promise<JwtAuthenticator> {
    const issuers = new Map<string, Issuer>();
    const cache = new VerifiedTokenCache(auth.token_cache_size);
    for (const config of auth.issuers) {
      if (issuers.has(config.issuer)) throw new Error(`auth.issuers: issuer ${config.issuer} is configured twice`);
      if (config.jwks_url) {
        // A key the issuer stops publishing revokes what was verified with it, not only new tokens.
        const remote = new RemoteJwks(
          config.jwks_url,
          config.jwks_cache_max_age_s * 1000,
          (isRetired) => cache.evictRetiredKeys(config.issuer, isRetired),
          Date.now,
          (failure) =>
            failure === undefined
              ? log?.info({ issuer: config.issuer, jwks_url: config.jwks_url }, 'JWKS fetch recovered')
              : log?.error({ issuer: config.issuer, jwks_url: config.jwks_url, reason: failure }, 'JWKS FETCH FAILED: tokens needing new keys get 503 JWKS_UNAVAILABLE until it recovers'),
        );
        issuers.set(config.issuer, { config, keys: remote.getKey, remote });
      } else {
        issuers.set(config.issuer, { config, keys: createLocalJWKSet(JSON.parse(await readFile(config.jwks_file!, 'utf8')) as JSONWebKeySet) });
      }
    }
    if (devKey) {
      issuers.set(DEV_ISSUER, {
        config: {
          issuer: DEV_ISSUER,
          audience: DEV_AUDIENCE,
          algorithms: [DEV_ALGORITHM],
          roles_claim: 'roles',
          roles_claim_format: 'array',
          principal_prefix: 'user:',
          clock_tolerance_s: 30,
          max_lifetime_s: 86_400,
          jwks_cache_max_age_s: 600,
        },
        keys: createLocalJWKSet({ keys: [devKey.publicJwk] }),
      });
    }
    // Two issuers minting the same principal id would share its grants and limits.
    const prefixes = new Map<string, string>();
    for (const { config } of issuers.values()) {
      const other = prefixes.get(config.principal_prefix);
      if (other) {
        throw new Error(`auth: issuers ${other} and ${config.issuer} both use principal_prefix '${config.principal_prefix}'; give each its own (the development issuer uses 'user:')`);
      }
      prefixes.set(config.principal_prefix, config.issuer);
    }
    return new JwtAuthenticator(issuers, auth.max_token_bytes, cache);
  }

  get configured(): boolean {
    return this.issuers.size > 0;
  }

  async authenticate(token: string, nowMs = Date.now()): Promise<Principal> {
    const now = Math.floor(nowMs / 1000);
    const cached = this.cache.get(token, now);
    if (cached) {
      // Past the issuer's key max age (the IdP failing all along) a cached verification is not trusted either.
      if (this.issuers.get(cached.issuer!)?.remote?.stillTrusted() !== false) return cached;
      this.cache.delete(token);
    }
    if (token.length > this.maxTokenBytes) throw reject('TOKEN_TOO_LARGE', `the token exceeds ${this.maxTokenBytes} bytes`);

    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      throw reject('TOKEN_MALFORMED', 'the bearer token is not a well-formed JWT');
    }
    for (const name of KEY_CARRYING_HEADERS) {
      if (name in header) throw reject('TOKEN_FORBIDDEN_HEADER', `the token header carries '${name}'; keys are never taken from tokens`);
    }
    const issuer = typeof claims.iss === 'string' ? this.issuers.get(claims.iss) : undefined;
    if (!issuer) throw reject('TOKEN_ISSUER_UNKNOWN', 'the token was not issued by a configured issuer');
    const cfg = issuer.config;
    if (typeof header.alg !== 'string' || !(cfg.algorithms as string[]).includes(header.alg)) {
      throw reject('TOKEN_ALG_NOT_ALLOWED', `algorithm ${JSON.stringify(header.alg)} is not allowed for this issuer`);
    }

    const generation = issuer.remote?.generation;
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        algorithms: cfg.algorithms,
        issuer: cfg.issuer,
        audience: cfg.audience,
        clockTolerance: cfg.clock_tolerance_s,
        requiredClaims: ['exp', 'sub'],
        typ: cfg.typ,
        currentDate: new Date(nowMs),
      }));
    } catch (err) {
      throw this.mapError(err, issuer);
    }
    // Measured from the earlier of iat and now: a forged-forward iat must not shrink it.
    const lifetime = payload.exp! - Math.min(typeof payload.iat === 'number' ? payload.iat : now, now);
    if (lifetime > cfg.max_lifetime_s) {
      throw reject('TOKEN_LIFETIME_TOO_LONG', `the token is valid for ${lifetime} s; this issuer allows at most ${cfg.max_lifetime_s} s`);
    }
    const roles = rolesFromClaims(payload as Record<string, unknown>, cfg.roles_claim, cfg.roles_claim_format);
    if (roles === undefined) {
      const expected = cfg.roles_claim_format === 'space_separated' ? 'an array of strings or a space-separated string' : 'an array of strings';
      throw reject('TOKEN_CLAIMS_INVALID', `claim '${cfg.roles_claim}' must be ${expected}`);
    }
    const principal: Principal = { id: `${cfg.principal_prefix}${payload.sub}`, method: 'jwt', roles, issuer: cfg.issuer };
    // Verified against a key set that was replaced meanwhile: answer it, but do not remember it.
    if (issuer.remote?.generation === generation) {
      this.cache.set(token, principal, payload.exp!, { issuer: cfg.issuer, kid: typeof header.kid === 'string' ? header.kid : undefined });
    }
    return principal;
  }

  private mapError(err: unknown, issuer: Issuer): VigilError {
    // Only RemoteJwks reports a key set it cannot get; nothing jose throws is read as an outage.
    if (err instanceof JwksUnavailableError) {
      return new VigilError('JWKS_UNAVAILABLE', "the issuer's keys could not be fetched; try again shortly", { 'retry-after': String(err.retryAfterS) });
    }
    if (err instanceof errors.JWTExpired) return reject('TOKEN_EXPIRED', 'the token has expired');
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'nbf') return reject('TOKEN_NOT_YET_VALID', 'the token is not valid yet');
      if (err.claim === 'aud') return reject('TOKEN_AUDIENCE_MISMATCH', 'the token is not meant for this audience');
      if (err.claim === 'typ') return reject('TOKEN_TYPE_MISMATCH', `the token's typ must be ${issuer.config.typ}`);
      return reject('TOKEN_CLAIMS_INVALID', `claim '${err.claim}' is ${err.reason === 'missing' ? 'missing' : 'invalid'}`);
    }
    if (err instanceof errors.JOSEAlgNotAllowed) return reject('TOKEN_ALG_NOT_ALLOWED', 'the token algorithm is not allowed for this issuer');
    if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
      return reject('TOKEN_UNKNOWN_KEY', "no key of the issuer's JWKS matches the token's kid and alg");
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) return reject('TOKEN_SIGNATURE_INVALID', 'the token signature does not verify');
    if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) {
      return reject('TOKEN_MALFORMED', 'the bearer token is not a valid signed JWT');
    }
    if (err instanceof errors.JWKSInvalid || err instanceof errors.JWKInvalid) {
      // A jwks_file holding a key jose refuses (a private key, bad parameters): ours to fix, not the caller's fault.
      return new VigilError('JWKS_UNAVAILABLE', "the issuer's key set is invalid", { 'retry-after': '5' });
    }
    return reject('TOKEN_MALFORMED', 'the bearer token could not be verified');
  }
}
