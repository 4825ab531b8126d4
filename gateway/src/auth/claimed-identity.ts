import type { IncomingMessage } from 'node:http';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { extractCredentials } from './credentials.js';

const MAX_CLAIM_CHARS = 256;

/**
 * What a request's credential claims, before anything is verified: a token's `sub`, `iss` and
 * `kid`, or an API key's id; never the secret part. Kept in the audit record of a refused
 * credential (a security team asks "who failed to authenticate, by the identity they claimed"),
 * and the key the auth-failure throttle counts under (claimedIdentity). Undefined: no credential.
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
      // vk.<id>.<secret>: the id, never the secret.
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
      } catch {
        return { verified: false, kind: 'malformed' };
      }
      try {
        const kid = clip(decodeProtectedHeader(credentials.token).kid);
        if (kid !== undefined) out.kid = kid;
      } catch {
        // an unreadable header: the claims still say who it claims to be
      }
      return out;
    }
  }
}

/**
 * Who a request says it is, as the auth-failure throttle keys it beside the source address.
 * Behind a load balancer (or a NAT) many callers share one address; keying failures by address
 * alone let one attacker block them all. Unverified on purpose: an attacker can only claim
 * identities, so the worst a false claim does is block that identity from that address, which
 * the attacker could do anyway.
 */
export function claimedIdentity(req: IncomingMessage): string {
  const c = claimedCredential(req);
  if (!c) return 'anonymous';
  if (c.kind === 'api_key') return `key:${c.key_id}`;
  if (c.kind === 'jwt') return `jwt:${c.iss ?? ''} ${c.sub ?? ''}`.slice(0, MAX_CLAIM_CHARS);
  return 'malformed';
}
