import { loadOrCreateDevKey, mintDevToken } from '../auth/dev-signing-key.js';
import { loadConfig } from '../config/load-config.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw new Error(`'${text}' is not a duration like 30s, 15m, 1h or 1d`);
  return Number(m[1]) * UNITS[m[2]];
}

/** `vigil token --sub alice --roles analyst [--ttl 1h]`: mints a development token. */
export async function tokenCommand(opts: { config?: string; sub: string; roles?: string; ttl: string }): Promise<number> {
  const { config } = await loadConfig(opts.config);
  if (!config.auth.dev_mode) {
    process.stderr.write('vigil token mints development tokens, and auth.dev_mode is off in this config: vigil would refuse them.\n');
    return 1;
  }
  const ttl = parseDuration(opts.ttl);
  if (ttl > 86_400) {
    process.stderr.write('--ttl is at most 1d: vigil refuses longer-lived development tokens.\n');
    return 1;
  }
  const key = await loadOrCreateDevKey(config.auth.state_dir);
  const roles = (opts.roles ?? '').split(',').map((r) => r.trim()).filter(Boolean);
  process.stdout.write(`${await mintDevToken(key, { sub: opts.sub, roles, ttlSeconds: ttl })}\n`);
  return 0;
}
