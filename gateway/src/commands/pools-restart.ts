import { adminPost, refusedBy, type AdminClientOptions } from './admin-client.js';

export type PoolsRestartOptions = AdminClientOptions;

/** `vigil pools restart <model> <version>`: asks the running gateway's admin port to restart the pool (RBAC `admin:pools`, audited there). */
export async function poolsRestartCommand(model: string, version: string, opts: PoolsRestartOptions): Promise<number> {
  const answer = await adminPost(`/pools/${encodeURIComponent(model)}/${encodeURIComponent(version)}/restart`, undefined, opts);
  if (!answer) return 1;
  if (answer.status !== 202) return refusedBy(answer);
  process.stdout.write(`restarting ${String(answer.body.restarting)} worker(s) of ${model}/${version}\n`);
  return 0;
}
