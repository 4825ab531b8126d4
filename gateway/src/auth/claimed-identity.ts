import type { IncomingMessage } from 'node:http';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { extractCredentials } from './credentials.js';

const MAX_CLAIM_CHARS = 256;

/**
 * Who a request says it is, before anything is verified: the key the auth-failure throttle counts
 * under, beside the source address. Behind a load balancer (or a NAT) many callers share one
 * address; keying failures by address alone let one attacker block them all. Unverified on
 * purpose: an attacker can only claim identities, so the worst a false claim does is block that
 * identity from that address, which the attacker could do anyway.
 */
export function claimedIdentity(req: IncomingMessage): string {
  let credentials;
  try {
    credentials = extractCredentials(req);
  } catch {
    return 'malformed';
  }
  switch (credentials.kind) {
    case 'none':
      return 'anonymous';
    case 'api_key': {
      // vk.<id>.<secret>: the id, never the secret.
      const id = credentials.key.split('.', 3)[1];
      return id && id.length <= 64 ? `key:${id}` : 'malformed';
    }
    case 'bearer':
      try {
        const claims = decodeJwt(credentials.token);
        const iss = typeof claims.iss === 'string' ? claims.iss : '';
        const sub = typeof claims.sub === 'string' ? claims.sub : '';
        return `jwt:${iss} ${sub}`.slice(0, MAX_CLAIM_CHARS);
      } catch {
        return 'malformed';
      }
  }
}

/**
 * What a refused credential claimed, for the audit record of its refusal: a token's `sub`, `iss`
 * and `kid`, or an API key's id; never verified (so marked), never the secret part. A security
 * team asks "who failed to authenticate, by the identity they claimed"; the principal of such a
 * record is always `unauthenticated`.
 */
export interface ClaimedCredential {
  verified: false;
  kind: 'jwt' | 'api_key' | 'malformed';
  sub?: string;
  iss?: string;
  kid?: string;
  key_id?: string;
}

export function claimedCredential(req: IncomingMessage): ClaimedCredential | undefined {
  let credentials;
  try {
    credentials = extractCredentials(req);
  } catch {
    return { verified: false, kind: 'malformed' };
  }
  const clip = (v: unknown) => (typeof v === 'string' ? v.slice(0, MAX_CLAIM_CHARS) : undefined);
  switch (credentials.kind) {
    case 'none':
      return undefined;
    case 'api_key': {
      const id = credentials.key.split('.', 3)[1];
      return id && id.length <= 64 ? { verified: false, kind: 'api_key', key_id: id } : { verified: false, kind: 'malformed' };
    }
    case 'bearer': {
      const out: ClaimedCredential = { verified: false, kind: 'jwt' };
      try {
        const claims = decodeJwt(credentials.token);
        const sub = clip(claims.sub);
        const iss = clip(claims.iss);
        if (sub !== undefined) out.sub = sub;
        if (iss !== undefined) out.iss = iss;
        const kid = clip(decodeProtectedHeader(credentials.token).kid);
        if (kid !== undefined) out.kid = kid;
        return out;
      } catch {
        return { verified: false, kind: 'malformed' };
      }
    }
  }
}
