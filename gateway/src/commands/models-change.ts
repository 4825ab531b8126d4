import { adminPost, refusedBy, type AdminClientOptions } from './admin-client.js';

export type ModelsChangeOptions = AdminClientOptions & { json?: boolean; to?: string };

/** A load waits for new pools to start (the pool's start timeout); the CLI waits longer than that. */
const LOAD_TIMEOUT_MS = 120_000;

/**
 * `vigil models load|unload|promote|rollback`: the repository extension on the running gateway's
 * admin port (RBAC `admin:models` on the model, audited there). Prints what changed.
 */
export async function modelsChangeCommand(change: 'load' | 'unload' | 'promote' | 'rollback', model: string, version: string | undefined, opts: ModelsChangeOptions): Promise<number> {
  const body = change === 'promote' ? { version } : change === 'rollback' && opts.to ? { version: opts.to } : undefined;
  const answer = await adminPost(`/v2/repository/models/${encodeURIComponent(model)}/${change}`, body, opts, LOAD_TIMEOUT_MS);
  if (!answer) return 1;
  if (answer.status !== 200) return refusedBy(answer);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(answer.body)}\n`);
    return 0;
  }
  const b = answer.body as { versions?: { version: string; state: string; signer?: string; reason?: string }[]; unloaded?: string[]; split?: Record<string, number>; persisted?: boolean };
  if (change === 'load') {
    for (const v of b.versions ?? []) process.stdout.write(`${model}/${v.version}: ${v.state}${v.signer ? ` (signed by ${v.signer})` : ''}${v.reason ? ` (${v.reason})` : ''}\n`);
  } else if (change === 'unload') {
    process.stdout.write(`${model} unloaded (versions ${(b.unloaded ?? []).join(', ') || 'none were serving'})\n`);
  } else {
    const split = Object.entries(b.split ?? {}).map(([v, w]) => `${v}: ${w}%`).join(', ');
    process.stdout.write(`${model} split now ${split}${b.persisted ? '' : ' (NOT written to traffic.yaml: it holds until a restart or the next load)'}\n`);
  }
  return 0;
}
