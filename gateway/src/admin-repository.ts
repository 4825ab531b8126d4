import express, { type Express, type Request, type Response } from 'express';
import { NAME_PATTERN } from '../../oip/src/names.js';
import { VERSION_PATTERN } from '../../serving/src/model-config.js';
import type { Principal } from './auth/principal.js';
import { VigilError } from './errors.js';
import type { ModelLifecycle } from './lifecycle/model-lifecycle.js';
import { canServe, type ModelRegistry } from './model-registry.js';

/** Authenticates and authorizes an admin request for an action (on a model, for `admin:models`). */
export type AdminAllow = (req: Request, res: Response, action: string, model?: string) => Promise<Principal>;

/** The most a repository request's body holds: `{"version": "12"}`, Triton's `parameters`, whitespace. */
const MAX_BODY = '4kb';

/**
 * Triton's model repository extension on the admin port (issue 17, item 2), and vigil's own
 * promote and rollback beside it. Reading the index is `admin:status`; every change is
 * `admin:models`, which a policy rule may limit to some models; ModelLifecycle audits each.
 */
export function addRepositoryRoutes(app: Express, registry: ModelRegistry, lifecycle: ModelLifecycle, allow: AdminAllow): void {
  const json = express.json({ limit: MAX_BODY, strict: true, type: () => true });
  const modelOf = (req: Request): string => {
    const { model } = req.params as { model: string };
    if (!NAME_PATTERN.test(model)) throw new VigilError('INVALID_PATH', 'model names start with a letter or digit and hold at most 128 characters');
    return model;
  };

  const index = async (req: Request, res: Response) => {
    await allow(req, res, 'admin:status');
    const body = objectBody(req);
    const onlyReady = body.ready === true;
    // Unlike the inference port's index, reasons in full: this is the operator's view.
    const rows = registry
      .all()
      .filter((v) => !onlyReady || (v.status === 'serving' && canServe(v.backend)))
      .map((v) =>
        v.status === 'refused'
          ? { name: v.model, version: v.version, state: 'UNAVAILABLE', reason: v.reason }
          : canServe(v.backend)
            ? { name: v.model, version: v.version, state: 'READY', ...(v.signer ? { signer: v.signer } : {}) }
            : { name: v.model, version: v.version, state: 'UNAVAILABLE', reason: `its backend is ${v.backend.status}` },
      );
    res.json(rows);
  };
  app.get('/v2/repository/index', handle(index));
  app.post('/v2/repository/index', json, handle(index));

  // Every change: a model named in the path, admin:models on it, a JSON object body (or none).
  const change = (verb: string, fn: (model: string, principal: string, body: Record<string, unknown>) => Promise<unknown>) =>
    app.post(
      `/v2/repository/models/:model/${verb}`,
      json,
      handle(async (req, res) => {
        const model = modelOf(req);
        const principal = await allow(req, res, 'admin:models', model);
        res.json(await fn(model, principal.id, objectBody(req)));
      }),
    );
  change('load', (model, principal, body) => {
    // A load reads the repository and nothing else: Triton's config and file overrides would
    // load an artifact no digest or signature vouches for.
    if (body.parameters !== undefined && (typeof body.parameters !== 'object' || body.parameters === null || Object.keys(body.parameters).length > 0)) {
      throw new VigilError('MODEL_LOAD_FAILED', 'vigil loads a model only from its repository: load parameters (config, file overrides) are not accepted');
    }
    return lifecycle.load(model, principal);
  });
  change('unload', (model, principal) => lifecycle.unload(model, principal));
  change('promote', (model, principal, body) => lifecycle.promote(model, versionOf(body, true)!, principal));
  change('rollback', (model, principal, body) => lifecycle.rollback(model, versionOf(body, false), principal));
}

function handle(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: (err?: unknown) => void) => {
    fn(req, res).catch(next);
  };
}

/** The JSON body as an object; none is `{}`. */
function objectBody(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (body === undefined || (typeof body === 'object' && body !== null && !Array.isArray(body))) return (body ?? {}) as Record<string, unknown>;
  throw new VigilError('INVALID_JSON', 'the body is a JSON object');
}

function versionOf(body: Record<string, unknown>, required: boolean): string | undefined {
  const v = body.version;
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || !VERSION_PATTERN.test(v)) throw new VigilError('INVALID_JSON', 'the body names the version as a string of digits: {"version": "2"}');
  return v;
}
