import { scanRepository } from '../../../serving/src/model-repository.js';
import { artifactSourceOf, ociSettingsOf } from '../config/oci-settings.js';
import { artifactTrustOf } from '../config/artifact-trust.js';
import { loadConfig } from '../config/load-config.js';

/** `vigil models list`: what the repository holds and whether each version would be served. */
export async function modelsListCommand(opts: { config?: string; json?: boolean }): Promise<number> {
  const { config } = await loadConfig(opts.config);
  const scan = await scanRepository(config.models.repository, await artifactTrustOf(config.models), artifactSourceOf(await ociSettingsOf(config.models)));
  const rows = [...scan.models.values()].flat().map((v) => ({
    model: v.name,
    version: v.version,
    status: v.status === 'ok' ? 'ok' : 'REFUSED',
    inputs: v.config?.inputs.map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`).join(' ') ?? '',
    backend: v.config?.backend.kind === 'oip-http' ? v.config.backend.url : v.config ? `local×${v.config.pool.workers}` : '',
    accuracy: (v.config?.training?.heldout_accuracy as number | undefined) ?? '',
    digest: v.config?.digest?.slice(0, 19) ?? '',
    signer: v.status === 'ok' ? (v.signer ?? '-') : '',
    reason: v.status === 'refused' ? v.reason : '',
    source: v.status === 'ok' ? (v.source ?? '') : '',
  }));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ repository: scan.root, models: rows, ignored: scan.ignored }, null, 2)}\n`);
  } else {
    process.stdout.write(`repository: ${scan.root}\n`);
    printTable(rows);
    for (const note of scan.ignored) process.stdout.write(`ignored: ${note}\n`);
  }
  return rows.some((r) => r.status !== 'ok') ? 1 : 0;
}

function printTable(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) {
    process.stdout.write('(no models)\n');
    return;
  }
  // Reasons and registry references are long: each goes on a line of its own below the table.
  const columns = Object.keys(rows[0]).filter((c) => c !== 'reason' && c !== 'source');
  const width = (c: string) => Math.max(c.length, ...rows.map((r) => String(r[c]).length));
  const line = (cells: string[]) => `${cells.map((cell, i) => cell.padEnd(width(columns[i]))).join('  ')}\n`;
  process.stdout.write(line(columns.map((c) => c.toUpperCase())));
  for (const r of rows) {
    process.stdout.write(line(columns.map((c) => String(r[c]))));
    if (r.reason) process.stdout.write(`  ↳ ${r.reason}\n`);
    if (r.source) process.stdout.write(`  ↳ from ${r.source}\n`);
  }
}
