import { loadOrCreateDevKey, mintDevToken } from '../auth/dev-signing-key.js';
import { loadConfig } from '../config/load-config.js';

export interface PoolsRestartOptions {
  adminUrl?: string;
  token?: string;
  config?: string;
}

/**
 * `vigil pools restart <model> <version>`: asks the running gateway's admin port to restart the
 * pool (RBAC `admin:pools`, audited there). In dev_mode, without a token, it mints a short-lived
 * admin token with the development key, as `vigil token` would.
 */
export async function poolsRestartCommand(model: string, version: string, opts: PoolsRestartOptions): Promise<number> {
  const { config } = await loadConfig(opts.config);
  const base = opts.adminUrl ?? `http://${config.admin.host}:${config.admin.port}`;
  let token = opts.token ?? process.env.VIGIL_TOKEN;
  if (!token && config.auth.dev_mode) {
    token = await mintDevToken(await loadOrCreateDevKey(config.auth.state_dir), { sub: 'vigil-cli', roles: ['admin'], ttlSeconds: 60 });
  }
  if (!token) {
    process.stderr.write('give an admin token with --token or $VIGIL_TOKEN\n');
    return 2;
  }
  let res: Response;
  try {
    res = await fetch(`${base}/pools/${encodeURIComponent(model)}/${encodeURIComponent(version)}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    process.stderr.write(`cannot reach the admin port at ${base}: ${(err as Error).message}\n`);
    return 1;
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; code?: string; restarting?: number };
  if (res.status !== 202) {
    process.stderr.write(`refused: ${res.status} ${body.code ?? ''} ${body.error ?? ''}\n`);
    return 1;
  }
  process.stdout.write(`restarting ${body.restarting} worker(s) of ${model}/${version}\n`);
  return 0;
}
