import { NAME_PATTERN } from '../../../oip/src/names.js';
import { VigilError } from '../errors.js';
import type { Route } from '../routes.js';
import type { Stage } from '../stage.js';

// Only these characters may appear in a path; anything else (%, \, ;, spaces, unicode) is
// rejected rather than decoded, so no encoded slash or dot can ever be reinterpreted downstream.
const PATH_CHARS = /^[A-Za-z0-9._\-/]+$/;
const CREDENTIAL_PARAM = /(^|&)(access_token|id_token|token|jwt|api_key|apikey|api-key|key|authorization)=/i;

/**
 * route stage: turns method and raw request target into an action on a model, or rejects.
 * Matching is on the undecoded target after strict checks; nothing ambiguous is guessed.
 */
export function parseRoute(method: string, target: string): Route {
  if (!target.startsWith('/')) throw new VigilError('INVALID_PATH', 'only origin-form request targets are accepted (a path starting with /)');
  const query = target.indexOf('?');
  if (query !== -1) {
    if (CREDENTIAL_PARAM.test(target.slice(query + 1))) {
      throw new VigilError('CREDENTIALS_IN_QUERY', 'credentials in the URL end up in logs and histories; send them in the Authorization or x-api-key header');
    }
    throw new VigilError('INVALID_PATH', 'query strings are not part of the Open Inference Protocol');
  }
  if (!PATH_CHARS.test(target)) throw new VigilError('INVALID_PATH', 'the path may hold only letters, digits and . _ - /; percent-encoding is not accepted');
  const segments = target.slice(1).split('/');
  for (const s of segments) {
    if (s === '') throw new VigilError('INVALID_PATH', 'empty path segment (duplicate or trailing slash)');
    if (s === '.' || s === '..') throw new VigilError('INVALID_PATH', 'dot segments are not accepted');
  }
  const route = matchSegments(segments);
  if (!route) throw new VigilError('ROUTE_NOT_FOUND', `no Open Inference Protocol endpoint at ${target}`);
  const allowed = route.action === 'model.infer' || route.action === 'repository.index' ? ['POST'] : ['GET', 'HEAD'];
  if (!allowed.includes(method)) {
    throw new VigilError('METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allowed.join(' or ')}`, { allow: allowed.join(', ') });
  }
  return route;
}

function matchSegments(s: string[]): Route | null {
  if (s[0] !== 'v2') return null;
  if (s.length === 1) return { action: 'server.metadata' };
  if (s[1] === 'health' && s.length === 3) {
    if (s[2] === 'live') return { action: 'health.live' };
    if (s[2] === 'ready') return { action: 'health.ready' };
    return null;
  }
  if (s[1] === 'repository') return s.length === 3 && s[2] === 'index' ? { action: 'repository.index' } : null;
  if (s[1] !== 'models' || s.length < 3) return null;
  const model = s[2];
  let rest = s.slice(3);
  let version: string | undefined;
  if (rest[0] === 'versions') {
    if (rest.length < 2) return null;
    version = rest[1];
    rest = rest.slice(2);
  }
  if (!NAME_PATTERN.test(model) || (version !== undefined && !NAME_PATTERN.test(version))) {
    throw new VigilError('INVALID_PATH', 'model names and versions start with a letter or digit and hold at most 128 characters');
  }
  if (rest.length === 0) return { action: 'model.metadata', model, version };
  if (rest.length === 1 && rest[0] === 'ready') return { action: 'model.ready', model, version };
  if (rest.length === 1 && rest[0] === 'infer') return { action: 'model.infer', model, version };
  if (rest.length === 1 && rest[0] === 'config') return { action: 'model.config', model, version };
  if (rest.length === 1 && rest[0] === 'stats') return { action: 'model.stats', model, version };
  return null;
}

/** route stage: the parsed route onto the context; parseRoute's errors are its refusals. */
export const routeStage: Stage = {
  name: 'route',
  run(ctx) {
    ctx.route = parseRoute(ctx.req.method ?? '', ctx.req.url ?? '');
  },
};
