import type { IncomingMessage } from 'node:http';
import { VigilError } from '../errors.js';
import type { PolicySource } from '../policy-port.js';
import { extractCredentials } from './credentials.js';
import type { JwtAuthenticator } from './jwt-authenticator.js';
import { ANONYMOUS, type Principal } from './principal.js';

/** Proves who sent a request from its one credential (bearer JWT, API key, or none: anonymous). */
export async function principalOfRequest(req: IncomingMessage, jwt: JwtAuthenticator, policy: PolicySource): Promise<Principal> {
  const credentials = extractCredentials(req);
  switch (credentials.kind) {
    case 'none':
      return ANONYMOUS;
    case 'bearer':
      return jwt.authenticate(credentials.token);
    case 'api_key': {
      const found = policy.current().lookupApiKey(credentials.key, Date.now());
      if (!found.ok) throw new VigilError(found.code, API_KEY_MESSAGE[found.code]);
      return found.principal;
    }
  }
}

const API_KEY_MESSAGE = {
  API_KEY_EXPIRED: 'the API key has expired',
  API_KEY_MALFORMED: 'the x-api-key header does not hold a vigil API key',
  API_KEY_INVALID: 'the API key is not valid',
} as const;
