import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Writes a policy YAML to a fresh temp file and returns its path. */
export async function writePolicy(yaml: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'vigil-policy-')), 'policy.yaml');
  await writeFile(file, yaml);
  return file;
}
