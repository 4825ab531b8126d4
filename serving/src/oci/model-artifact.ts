// A model version as an OCI artifact (issue 17, item 5), per the OCI image spec 1.1's guidance
// for artifacts: an image manifest with vigil's own artifactType, a config blob saying which
// model and version it is, and each file of the version directory as one layer titled with the
// file's name. Pulled by digest, every byte is checked against what the manifest pins.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { sha256OfBytes, sha256OfFile } from '../file-digest.js';
import { DIGEST, type OciReference } from './oci-reference.js';
import { RegistryClient, RegistryError, type RegistryAccess } from './registry-client.js';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const ARTIFACT_TYPE = 'application/vnd.vigil.model.v1';
export const CONFIG_MEDIA_TYPE = 'application/vnd.vigil.model.config.v1+json';
const TITLE = 'org.opencontainers.image.title';
/** Media types of the files vigil knows; any other file of the version is plain bytes. */
const FILE_TYPES: Record<string, string> = {
  'model.onnx': 'application/vnd.vigil.model.onnx.v1',
  'model.yaml': 'application/vnd.vigil.model.config.v1+yaml',
  'model.sig': 'application/vnd.vigil.model.signature.v1+jws',
  'profile.json': 'application/vnd.vigil.model.profile.v1+json',
};
/** A file name a layer may be written under: no path, no dot file, nothing the shell or a path join would read twice. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_LAYERS = 64;
/** The config blob names a model and a version: a few dozen bytes. */
const MAX_CONFIG_BYTES = 64 * 1024;

const descriptor = z.object({ mediaType: z.string().max(255), digest: z.string().regex(DIGEST), size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), annotations: z.record(z.string(), z.string()).optional() });
const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MANIFEST_MEDIA_TYPE),
  artifactType: z.literal(ARTIFACT_TYPE).optional(),
  config: descriptor.extend({ mediaType: z.literal(CONFIG_MEDIA_TYPE), size: z.number().int().min(0).max(MAX_CONFIG_BYTES) }),
  layers: z.array(descriptor).min(1).max(MAX_LAYERS),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ModelManifest = z.infer<typeof manifestSchema>;
const configSchema = z.object({ model: z.string().max(128), version: z.string().max(32) });

/** Pushes the files of a version directory; returns the manifest's digest (what a reference pins). */
export async function pushModelVersion(dir: string, model: string, version: string, ref: OciReference, access: RegistryAccess): Promise<{ digest: string; files: string[] }> {
  const client = new RegistryClient(ref, access);
  const files: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    // A link is pushed as the file it points to (stat follows it): what the version serves.
    const kind = await stat(join(dir, name));
    if (kind.isDirectory()) throw new Error(`${join(dir, name)}: a version directory is pushed flat; subdirectories are not`);
    if (!kind.isFile()) throw new Error(`${join(dir, name)}: not a regular file`);
    if (!FILE_NAME.test(name)) throw new Error(`${name}: not a file name a layer may carry`);
    files.push(name);
  }
  if (!files.includes('model.yaml')) throw new Error(`${dir} has no model.yaml`);
  const layers = [];
  for (const name of files) {
    const path = join(dir, name);
    const digest = await sha256OfFile(path);
    await client.pushBlob(path, digest);
    layers.push({ mediaType: FILE_TYPES[name] ?? 'application/octet-stream', digest, size: (await stat(path)).size, annotations: { [TITLE]: name } });
  }
  const config = Buffer.from(JSON.stringify({ model, version }));
  const configDigest = sha256OfBytes(config);
  await client.pushBytes(config, configDigest);
  const manifest: ModelManifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    artifactType: ARTIFACT_TYPE,
    config: { mediaType: CONFIG_MEDIA_TYPE, digest: configDigest, size: config.length },
    layers,
    annotations: { 'org.opencontainers.image.created': new Date().toISOString(), 'org.opencontainers.image.title': `${model}/${version}` },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256OfBytes(bytes);
  await client.putManifest(ref.tag ?? digest, MANIFEST_MEDIA_TYPE, bytes);
  return { digest, files };
}

/**
 * Pulls an artifact into `target` (which must not exist): the manifest must be the one `ref`'s
 * digest pins (a tag is resolved and its digest returned), of vigil's artifact type, and every
 * layer must arrive with its own digest and size. The files land in a temporary directory beside
 * `target` first, renamed into place only once all are checked.
 */
export async function pullModelVersion(ref: OciReference, access: RegistryAccess, target: string, maxBytes: number): Promise<{ digest: string; model: string; version: string; files: string[]; manifest: Buffer }> {
  // A timer cleared at the end (never AbortSignal.timeout, which would fire on finished bodies).
  const deadline = new AbortController();
  const timer = access.pullTimeoutMs ? setTimeout(() => deadline.abort(), access.pullTimeoutMs) : undefined;
  try {
    return await pull(new RegistryClient(ref, access, deadline.signal), ref, target, maxBytes);
  } catch (err) {
    // Cut off wherever it was (headers, a manifest or a blob streaming in): say why.
    if (deadline.signal.aborted) throw new RegistryError(`${ref.host}: the pull took longer than models.oci.pull_timeout_ms (${access.pullTimeoutMs} ms)`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function pull(client: RegistryClient, ref: OciReference, target: string, maxBytes: number): Promise<{ digest: string; model: string; version: string; files: string[]; manifest: Buffer }> {
  const reference = ref.digest ?? ref.tag;
  if (!reference) throw new Error('a reference to pull names a digest (or a tag)');
  const { bytes } = await client.getManifest(reference, MANIFEST_MEDIA_TYPE);
  const digest = sha256OfBytes(bytes);
  if (ref.digest && digest !== ref.digest) throw new RegistryError(`the manifest's digest is ${digest}, not the ${ref.digest} the reference pins`);
  const manifest = parseManifest(bytes);
  const total = manifest.layers.reduce((n, l) => n + l.size, 0);
  if (total > maxBytes) throw new Error(`the artifact holds ${total} bytes; models.oci.max_artifact_bytes allows ${maxBytes}`);
  const names = manifest.layers.map((l) => l.annotations?.[TITLE] ?? '');
  const bad = names.find((n) => !FILE_NAME.test(n));
  if (bad !== undefined) throw new Error(`a layer is titled '${bad}': not a file name vigil writes`);
  if (new Set(names).size !== names.length) throw new Error('two layers carry the same file name');
  if (!names.includes('model.yaml')) throw new Error('the artifact has no model.yaml');
  const tmp = `${target}.pull-${randomBytes(6).toString('hex')}`;
  await mkdir(tmp, { recursive: true, mode: 0o755 });
  try {
    const configPath = join(tmp, '.config.json');
    await client.getBlob(manifest.config.digest, manifest.config.size, configPath);
    const config = configSchema.parse(JSON.parse(await readFile(configPath, 'utf8')));
    await rm(configPath);
    for (const [i, layer] of manifest.layers.entries()) await client.getBlob(layer.digest, layer.size, join(tmp, names[i]));
    await rename(tmp, target);
    return { digest, ...config, files: names, manifest: bytes };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

export function parseManifest(bytes: Buffer): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('the manifest is not JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`not a vigil model artifact: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(manifest)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
