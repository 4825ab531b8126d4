import type { IncomingMessage } from 'node:http';
import { VigilError } from '../errors.js';

export type Credentials = { kind: 'none' } | { kind: 'bearer'; token: string } | { kind: 'api_key'; key: string };

export const API_KEY_HEADER = 'x-api-key';
const BEARER = /^Bearer ([^\s]+)$/i;

/**
 * Reads the one credential of a request. Node keeps only the first of duplicate Authorization
 * headers, so duplicates are counted on the raw headers: two credentials of any kind are refused,
 * never resolved by picking one.
 */
export function extractCredentials(req: IncomingMessage): Credentials {
  let count = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'authorization' || name === API_KEY_HEADER) count++;
  }
  if (count === 0) return { kind: 'none' };
  if (count > 1) throw new VigilError('AMBIGUOUS_CREDENTIALS', 'send exactly one credential: one Authorization header or one x-api-key header');
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const m = BEARER.exec(authorization);
    if (!m) throw new VigilError('MALFORMED_CREDENTIALS', 'the Authorization header must be `Bearer <token>`', { 'www-authenticate': 'Bearer error="invalid_request"' });
    return { kind: 'bearer', token: m[1] };
  }
  return { kind: 'api_key', key: String(req.headers[API_KEY_HEADER]) };
}
