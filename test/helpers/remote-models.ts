import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLED_MODELS } from './vigil-harness.js';

/**
 * A gateway's model repository in which the bundled models are served by remote OIP servers:
 * each version keeps its model.yaml (signature, detectors, profile) but not its model.onnx, and
 * gains the `backend:` section given for it.
 */
export async function remoteRepository(backends: Record<string, Record<string, unknown>>, edit: (yaml: string) => string = (y) => y): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-remote-models-'));
  for (const [model, backend] of Object.entries(backends)) {
    const version = join(dir, model, '1');
    await cp(join(BUNDLED_MODELS, model, '1'), version, { recursive: true, filter: (src) => !src.endsWith('model.onnx') });
    const file = join(version, 'model.yaml');
    await writeFile(file, `${edit(await readFile(file, 'utf8'))}\nbackend: ${JSON.stringify(backend)}\n`);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Fixed squeezers: randomised ones give the same row a different score on each request. */
export const fixedSqueezers = (yaml: string) => yaml.replace(/^(\s+)randomize: true$/m, '$1randomize: false');

/** A copy of the bundled repository for `vigil pool serve`, with room for the gateway's squeezed copies in one batch. */
export async function poolServeRepository(maxBatchSize = 256): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-pool-models-'));
  await cp(BUNDLED_MODELS, dir, { recursive: true });
  for (const model of ['digits', 'mnist']) {
    const file = join(dir, model, '1', 'model.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace(/^max_batch_size: \d+$/m, `max_batch_size: ${maxBatchSize}`));
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
