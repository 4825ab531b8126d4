import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256OfBytes, sha256OfFile } from '../file-digest.js';
import { parseManifest, pullModelVersion } from './model-artifact.js';
import { parseOciReference, type OciReference } from './oci-reference.js';
import type { RegistryAccess } from './registry-client.js';

export interface OciSettings {
  /** Where pulled artifacts are kept, by manifest digest. */
  cacheDir: string;
  maxArtifactBytes: number;
  /** How to reach a registry, by host[:port]. */
  access: (host: string) => RegistryAccess;
}

/**
 * The directory holding the artifact a model.yaml `source:` pins, pulled into the cache the first
 * time and verified every time: the manifest kept beside it must hash to the pinned digest and
 * each file to its layer's digest, with no file more. Anything off is pulled again; a pull that
 * fails refuses the version (what was serving keeps serving).
 */
export async function artifactDir(source: string, settings: OciSettings): Promise<string> {
  const ref = parseOciReference(source);
  if (!ref.digest) throw new Error(`${source} names no digest: a model.yaml source pins one (…@sha256:…), so the artifact cannot change under it`);
  // One check or pull of a digest at a time in this process: two versions loading the same
  // artifact at once must not remove each other's copy.
  const key = `${settings.cacheDir}\u0000${ref.digest}`;
  const prev = inProgress.get(key) ?? Promise.resolve('');
  const pinned = { ...ref, digest: ref.digest };
  const run = prev.catch(() => '').then(() => verifiedOrPulled(pinned, source, settings));
  inProgress.set(key, run);
  void run.catch(() => undefined).finally(() => inProgress.get(key) === run && inProgress.delete(key));
  return run;
}

const inProgress = new Map<string, Promise<string>>();

async function verifiedOrPulled(ref: OciReference & { digest: string }, source: string, settings: OciSettings): Promise<string> {
  const hex = ref.digest.slice('sha256:'.length);
  const root = join(settings.cacheDir, 'sha256');
  const dir = join(root, hex);
  const manifestFile = `${dir}.manifest.json`;
  if (await intact(dir, manifestFile, ref.digest)) return dir;
  await mkdir(root, { recursive: true, mode: 0o755 });
  await rm(dir, { recursive: true, force: true });
  const pulled = await pullModelVersion(ref, settings.access(ref.host), dir, settings.maxArtifactBytes).catch(async (err: unknown) => {
    // Another load pulling the same digest at the same moment got there first.
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  });
  if (pulled) {
    const tmp = `${manifestFile}.${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, pulled.manifest);
    await rename(tmp, manifestFile);
  }
  if (!(await intact(dir, manifestFile, ref.digest))) throw new Error(`${source}: the pulled artifact does not verify`);
  return dir;
}

async function intact(dir: string, manifestFile: string, digest: string): Promise<boolean> {
  let bytes: Buffer;
  let present: string[];
  try {
    bytes = await readFile(manifestFile);
    present = (await readdir(dir)).sort();
  } catch {
    return false;
  }
  if (sha256OfBytes(bytes) !== digest) return false;
  let manifest;
  try {
    manifest = parseManifest(bytes);
  } catch {
    return false;
  }
  const names = manifest.layers.map((l) => l.annotations?.['org.opencontainers.image.title'] ?? '');
  if (JSON.stringify([...names].sort()) !== JSON.stringify(present)) return false;
  for (const [i, layer] of manifest.layers.entries()) {
    if ((await sha256OfFile(join(dir, names[i])).catch(() => '')) !== layer.digest) return false;
  }
  return true;
}
