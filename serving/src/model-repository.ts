import { readdir, readFile, stat } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { artifactClaims, SIGNATURE_FILE, verifyArtifact, type ArtifactTrust } from './artifact-signing.js';
import { servedByPolicy, trafficSchema, type TrafficPolicy } from './traffic-policy.js';
import { join, resolve } from 'node:path';
import { sha256OfFile } from './file-digest.js';
import { NAME_PATTERN } from '../../oip/src/names.js';
import { modelConfigSchema, VERSION_PATTERN, type ModelConfig } from './model-config.js';
import { ConfigFileError, loadYamlWithSchema } from '../../oip/src/yaml-with-schema.js';

export const MODEL_FILE = 'model.onnx';
export const CONFIG_FILE = 'model.yaml';
export const TRAFFIC_FILE = 'traffic.yaml';

/** One `models/<name>/<version>/` directory, loadable or refused with the reason. */
export type ModelVersion =
  /** `signer`: the key id of a valid signature (model.sig), when there is one. */
  /** `source`: the registry reference the version was pulled from, when its model.yaml is a pointer. */
  | { name: string; version: string; dir: string; modelPath: string; status: 'ok'; config: ModelConfig; signer?: string; source?: string }
  /** `excluded`: sound, but outside the model's versions policy (traffic.yaml), so not served. */
  | { name: string; version: string; dir: string; modelPath: string; status: 'refused'; reason: string; config?: ModelConfig; excluded?: true };

export interface RepositoryScan {
  root: string;
  /** model name → its versions, highest first */
  models: Map<string, ModelVersion[]>;
  /** model name → its traffic policy (models/<name>/traffic.yaml), where it has one */
  traffic: Map<string, TrafficPolicy>;
  /** directories that are not models at all (bad names, stray files) */
  ignored: string[];
}

/**
 * Reads a Triton-style model repository. A version whose config is invalid, whose ONNX file
 * does not match the pinned digest, or whose signature does not verify (or is missing when
 * `trust.required`) is refused, with the reason, and the rest still load.
 */
export async function scanRepository(root: string, trust?: ArtifactTrust, oci?: ArtifactSource): Promise<RepositoryScan> {
  const absRoot = resolve(root);
  const scan: RepositoryScan = { root: absRoot, models: new Map(), traffic: new Map(), ignored: [] };
  for (const name of (await readdir(absRoot)).sort()) {
    if (!(await isDirectory(join(absRoot, name)))) continue;
    if (!NAME_PATTERN.test(name)) {
      scan.ignored.push(`${name}: not a valid model name`);
      continue;
    }
    const model = await scanModel(absRoot, name, trust, oci);
    scan.ignored.push(...model.ignored);
    if (model.versions.length === 0) continue;
    scan.models.set(name, model.versions);
    if (model.traffic) scan.traffic.set(name, model.traffic);
  }
  return scan;
}

/** One model of the repository, read as scanRepository reads each (a live load reads just this). */
export interface ModelScan {
  /** highest first; none when the directory holds no version */
  versions: ModelVersion[];
  traffic?: TrafficPolicy;
  ignored: string[];
}

/** Reads `<root>/<name>/`; the caller has checked `name` against NAME_PATTERN. */
export async function scanModel(root: string, name: string, trust?: ArtifactTrust, oci?: ArtifactSource): Promise<ModelScan> {
  const modelDir = join(resolve(root), name);
  const scan: ModelScan = { versions: [], ignored: [] };
  for (const version of await readdir(modelDir)) {
    const dir = join(modelDir, version);
    if (!(await isDirectory(dir))) continue;
    if (!VERSION_PATTERN.test(version)) {
      scan.ignored.push(`${name}/${version}: version directories must be integers`);
      continue;
    }
    scan.versions.push(await checkSignature(await loadVersion(name, version, dir, oci), trust));
  }
  if (scan.versions.length === 0) return scan;
  scan.versions.sort((a, b) => Number(b.version) - Number(a.version));
  scan.versions = await applyTraffic(name, modelDir, scan.versions, scan);
  return scan;
}

/** Where a version whose model.yaml is `source: oci://…@sha256:…` is read from: the verified artifact's directory. */
export type ArtifactSource = (source: string) => Promise<string>;

const pointerSchema = z.object({ source: z.string().startsWith('oci://') }).strict();

/** Passed when reading a pulled artifact: its model.yaml may not be a pointer in turn. */
const NESTED = Symbol('nested');

async function loadVersion(name: string, version: string, dir: string, oci?: ArtifactSource | typeof NESTED): Promise<ModelVersion> {
  const modelPath = join(dir, MODEL_FILE);
  const base = { name, version, dir, modelPath };
  const pointer = await pointerOf(join(dir, CONFIG_FILE));
  if (typeof pointer === 'string') {
    // A version kept in a registry: pulled and verified, then read like any other (an artifact's
    // own model.yaml may not point further: it is read as NESTED).
    if (oci === NESTED) return { ...base, status: 'refused', reason: `the artifact's own ${CONFIG_FILE} points to ${pointer}: a pointer may not point further` };
    if (!oci) return { ...base, status: 'refused', reason: `${CONFIG_FILE} points to ${pointer}, which is not pulled here (only the gateway, \`vigil models list\` and \`vigil pool serve\` pull)` };
    let artifact: string;
    try {
      artifact = await oci(pointer);
    } catch (err) {
      return { ...base, status: 'refused', reason: `cannot pull ${pointer}: ${(err as Error).message}` };
    }
    const v = await loadVersion(name, version, artifact, NESTED);
    return v.status === 'ok' ? { ...v, source: pointer } : { ...v, reason: `${pointer}: ${v.reason}` };
  }
  if (pointer) return { ...base, status: 'refused', reason: `invalid ${CONFIG_FILE}: ${pointer.message}` };
  let config: ModelConfig;
  try {
    config = await loadYamlWithSchema(join(dir, CONFIG_FILE), modelConfigSchema);
  } catch (err) {
    const reason = err instanceof ConfigFileError ? err.problems.join('; ') : (err as Error).message;
    return { ...base, status: 'refused', reason: `invalid ${CONFIG_FILE}: ${reason}` };
  }
  // A remote server holds its own artifact: there is no model.onnx here to pin.
  if (config.backend.kind !== 'local') return { ...base, status: 'ok', config };
  let actual: string;
  try {
    actual = await sha256OfFile(modelPath);
  } catch (err) {
    return { ...base, status: 'refused', reason: `cannot read ${MODEL_FILE}: ${(err as Error).message}`, config };
  }
  if (actual !== config.digest) {
    return {
      ...base,
      status: 'refused',
      reason: `digest mismatch: ${CONFIG_FILE} pins ${config.digest} but ${MODEL_FILE} is ${actual}`,
      config,
    };
  }
  return { ...base, status: 'ok', config };
}

/**
 * The model's traffic policy applied: versions outside its version policy are not served, and a
 * split or shadow naming a version that is not served is refused with the model (an invalid
 * traffic.yaml refuses every version: serving a canary at 100% by mistake is worse than none).
 */
async function applyTraffic(name: string, modelDir: string, versions: ModelVersion[], scan: ModelScan): Promise<ModelVersion[]> {
  const file = join(modelDir, TRAFFIC_FILE);
  if (!(await isFile(file))) return versions;
  let policy: TrafficPolicy;
  try {
    policy = await loadYamlWithSchema(file, trafficSchema);
  } catch (err) {
    const reason = err instanceof ConfigFileError ? err.problems.join('; ') : (err as Error).message;
    return versions.map((v) => ({ ...v, status: 'refused', reason: `invalid ${TRAFFIC_FILE}: ${reason}` }));
  }
  const served = servedByPolicy(versions.map((v) => v.version), policy);
  const out = versions.map((v): ModelVersion => (served.has(v.version) || v.status !== 'ok' ? v : { ...v, status: 'refused', reason: `not served: outside the versions policy of ${TRAFFIC_FILE}`, excluded: true }));
  const loadable = new Set(out.filter((v) => v.status === 'ok').map((v) => v.version));
  const named = [...Object.keys(policy.split ?? {}), ...(policy.shadow ? [policy.shadow.version] : [])];
  const missing = named.filter((v) => !loadable.has(v));
  if (missing.length > 0) return out.map((v) => ({ ...v, status: 'refused', reason: `${TRAFFIC_FILE} routes to version ${missing.join(', ')}, which is not served` }));
  scan.traffic = policy;
  return out;
}

/**
 * A loadable version with its signature checked: a present signature must verify with a trusted
 * key (else refused, whatever `required` says: a bad signature is worse than none); an absent
 * one refuses the version only when signatures are required.
 */
async function checkSignature(v: ModelVersion, trust: ArtifactTrust | undefined): Promise<ModelVersion> {
  if (v.status !== 'ok' || !trust) return v;
  let signature: string;
  try {
    signature = await readFile(join(v.dir, SIGNATURE_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { ...v, status: 'refused', reason: `cannot read ${SIGNATURE_FILE}: ${(err as Error).message}` };
    return trust.required ? { ...v, status: 'refused', reason: `no ${SIGNATURE_FILE}, and models.require_signatures is on` } : v;
  }
  const claims = await artifactClaims(v.name, v.version, v.dir, v.config.backend.kind === 'local' ? MODEL_FILE : null, CONFIG_FILE);
  const verdict = await verifyArtifact(signature, claims, trust);
  return verdict.ok ? { ...v, signer: verdict.kid } : { ...v, status: 'refused', reason: verdict.reason };
}

/**
 * The `source` of a model.yaml that is only a pointer to a registry, an Error for one that tries
 * to be both, or undefined for an ordinary model.yaml (read and checked as usual after this).
 */
async function pointerOf(file: string): Promise<string | Error | undefined> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || !('source' in doc)) return undefined;
  const parsed = pointerSchema.safeParse(doc);
  return parsed.success ? parsed.data.source : new Error(`a model.yaml with a source holds that alone (source: oci://host/repository@sha256:…): ${parsed.error.issues.map((i) => i.message).join('; ')}`);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
