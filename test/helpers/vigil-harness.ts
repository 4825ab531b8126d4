import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { loadOrCreateDevKey, mintDevToken } from '../../gateway/src/auth/dev-signing-key.js';
import { configSchema, type VigilConfig } from '../../gateway/src/config/schema.js';
import { startVigil, type Vigil, type VigilSeams } from '../../gateway/src/vigil.js';

export const BUNDLED_MODELS = resolve('models');
export const BUNDLED_POLICY = resolve('policies/vigil-policy.yaml');

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** A config for tests: ephemeral ports, fast probes and restarts; overridable per test. */
export function testConfig(overrides: DeepPartial<VigilConfig> = {}): VigilConfig {
  const base = {
    server: { port: 0, request_timeout_ms: 5_000, drain_timeout_ms: 5_000 },
    admin: { port: 0 },
    models: { repository: BUNDLED_MODELS },
    auth: { dev_mode: true },
    policy: { file: BUNDLED_POLICY, watch: false },
    pools: {
      start_timeout_ms: 15_000,
      stop_grace_ms: 2_000,
      restart: { initial_backoff_ms: 50, max_backoff_ms: 500, max_restarts: 5, window_ms: 30_000 },
      health: { interval_ms: 200, timeout_ms: 500, failures_before_replace: 3 },
    },
  };
  return configSchema.parse(merge(base, overrides));
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? merge(a[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface TestVigil extends Vigil {
  config: VigilConfig;
  /** A development token for this vigil (default: analyst). */
  token(sub?: string, roles?: string[], ttlSeconds?: number): Promise<string>;
  /** `{ authorization: 'Bearer …' }` for a principal with these roles. */
  auth(roles?: string[], sub?: string): Promise<Record<string, string>>;
}

/**
 * A real vigil on ephemeral ports with the bundled policy, in development mode with its own
 * signing key and audit log in a private temp directory (removed on stop).
 */
export async function startTestVigil(overrides: DeepPartial<VigilConfig> = {}, seams: VigilSeams = {}): Promise<TestVigil> {
  const scratch = await mkdtemp(join(tmpdir(), 'vigil-test-'));
  const config = testConfig(merge({ auth: { state_dir: join(scratch, 'state') }, audit: { dir: join(scratch, 'audit') } }, overrides as Record<string, unknown>) as DeepPartial<VigilConfig>);
  const vigil = await startVigil(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), seams);
  const key = await loadOrCreateDevKey(config.auth.state_dir);
  const token = (sub = 'alice', roles = ['analyst'], ttlSeconds = 600) => mintDevToken(key, { sub, roles, ttlSeconds });
  return {
    ...vigil,
    config,
    token,
    auth: async (roles = ['analyst'], sub = 'alice') => ({ authorization: `Bearer ${await token(sub, roles)}` }),
    stop: async () => {
      await vigil.stop();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** A private copy of the bundled repository that a test may damage. */
/** The bundled repository with every model.yaml edited, e.g. fixed squeezers where a test compares two gateways' scores. */
export async function editedRepository(edit: (yaml: string) => string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-edited-models-'));
  await cp(BUNDLED_MODELS, dir, { recursive: true });
  for (const model of ['digits', 'mnist']) {
    const file = join(dir, model, '1', 'model.yaml');
    await writeFile(file, edit(await readFile(file, 'utf8')));
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function copyOfModels(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-test-models-'));
  await cp(BUNDLED_MODELS, dir, { recursive: true });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  /** The body as received (binary answers are not text). */
  bytes: Buffer;
}

/**
 * One HTTP request with the path sent exactly as given (fetch and supertest normalise `..` and
 * `//` away, which would hide the very cases the route stage must reject).
 */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const text = bytes.toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, text, json, bytes });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export function postJson(port: number, path: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return rawRequest(port, 'POST', path, {
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
