import { loadOrCreateDevKey, mintDevToken } from '../auth/dev-signing-key.js';
import { loadConfig } from '../config/load-config.js';

export interface AdminClientOptions {
  adminUrl?: string;
  token?: string;
  config?: string;
}

/**
 * One POST to the running gateway's admin port, as the CLI's admin commands make it: the URL from
 * the config unless given, the token from --token or $VIGIL_TOKEN (in dev_mode, without one, a
 * short-lived admin token minted with the development key, as `vigil token` would). Problems are
 * written to stderr; the answer is returned with its status, or null when there is none.
 */
export async function adminPost(path: string, body: unknown, opts: AdminClientOptions, timeoutMs = 10_000): Promise<{ status: number; body: Record<string, unknown> } | null> {
  const { config } = await loadConfig(opts.config);
  const base = opts.adminUrl ?? `http://${config.admin.host}:${config.admin.port}`;
  let token = opts.token ?? process.env.VIGIL_TOKEN;
  if (!token && config.auth.dev_mode) {
    token = await mintDevToken(await loadOrCreateDevKey(config.auth.state_dir), { sub: 'vigil-cli', roles: ['admin'], ttlSeconds: 60 });
  }
  if (!token) {
    process.stderr.write('give an admin token with --token or $VIGIL_TOKEN\n');
    return null;
  }
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    process.stderr.write(`cannot reach the admin port at ${base}: ${(err as Error).message}\n`);
    return null;
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, body: answer };
}

/** Writes a refusal the way every admin command does; returns the exit code. */
export function refusedBy(answer: { status: number; body: Record<string, unknown> }): number {
  process.stderr.write(`refused: ${answer.status} ${String(answer.body.code ?? '')} ${String(answer.body.error ?? '')}\n`);
  return 1;
}
