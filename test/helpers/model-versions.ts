import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256OfBytes } from '../../serving/src/file-digest.js';
import { exportOnnx } from '../../tools/train/onnx-export.js';
import { importOnnxWeights } from '../../tools/train/onnx-import.js';

/** Another version of a model in `repo`: a copy of `from`, the same artifact under a new version number. */
export async function copyVersion(repo: string, model: string, from: string, to: string): Promise<void> {
  await cp(join(repo, model, from), join(repo, model, to), { recursive: true });
}

/**
 * A version that answers wrongly: `from`'s network with its classes rotated by one (class k's
 * output is class k+1's), its model.yaml pinned to the new digest. Same signature, every answer off.
 */
export async function wrongVersion(repo: string, model: string, from: string, to: string): Promise<void> {
  await copyVersion(repo, model, from, to);
  const dir = join(repo, model, to);
  const weights = importOnnxWeights(await readFile(join(dir, 'model.onnx')));
  const { hidden, classes } = weights;
  const w2 = new Float64Array(weights.w2.length);
  const b2 = new Float64Array(classes);
  for (let k = 0; k < classes; k++) {
    const src = (k + 1) % classes;
    b2[k] = weights.b2[src];
    for (let h = 0; h < hidden; h++) w2[h * classes + k] = weights.w2[h * classes + src];
  }
  const bytes = exportOnnx({ ...weights, w2, b2 }, { name: `${model}_wrong`, description: 'classes rotated by one: a version that answers wrongly, for tests' });
  await writeFile(join(dir, 'model.onnx'), bytes);
  const yaml = await readFile(join(dir, 'model.yaml'), 'utf8');
  await writeFile(join(dir, 'model.yaml'), yaml.replace(/^digest: .*$/m, `digest: ${sha256OfBytes(bytes)}`));
}
