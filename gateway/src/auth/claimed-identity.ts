import type { IncomingMessage } from 'node:http';
import { decodeJwt } from 'jose';
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
