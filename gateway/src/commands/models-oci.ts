import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pullModelVersion, pushModelVersion } from '../../../serving/src/oci/model-artifact.js';
import { formatOciReference, parseOciReference } from '../../../serving/src/oci/oci-reference.js';
import { scanModel, scanRepository } from '../../../serving/src/model-repository.js';
import { NAME_PATTERN } from '../../../oip/src/names.js';
import { VERSION_PATTERN } from '../../../serving/src/model-config.js';
import { artifactTrustOf } from '../config/artifact-trust.js';
import { loadConfig } from '../config/load-config.js';
import { artifactSourceOf, ociSettingsOf } from '../config/oci-settings.js';

export interface ModelsOciOptions {
  config?: string;
  /** Reach this reference's registry over plain HTTP (a registry on loopback). */
  plainHttp?: boolean;
  /** `<model>/<version>` to pull as. */
  as?: string;
}

/**
 * `vigil models push <model> <version> oci://host/repo[:tag]`: the version's files as one OCI
 * artifact. Only a version that loads (digest, signature when present) is pushed. Prints the
 * reference by digest, the one to pin in a model.yaml `source:`.
 */
export async function modelsPushCommand(model: string, version: string, reference: string, opts: ModelsOciOptions): Promise<number> {
  try {
    const { config } = await loadConfig(opts.config);
    const ref = parseOciReference(reference);
    if (ref.digest) throw new Error('push to a repository (and a tag); the digest is what the push gives back');
    const settings = await ociSettingsOf(config.models, opts.plainHttp ? [ref.host] : []);
    // A version that points to a registry is pushed as the artifact it was pulled as.
    const found = (await scanRepository(config.models.repository, await artifactTrustOf(config.models), artifactSourceOf(settings))).models.get(model)?.find((v) => v.version === version);
    if (!found) throw new Error(`${model}/${version} is not in ${config.models.repository}`);
    if (found.status !== 'ok') throw new Error(`${model}/${version} would not load, so it is not pushed: ${found.reason}`);
    const pushed = await pushModelVersion(found.dir, model, version, ref, settings.access(ref.host));
    process.stdout.write(`pushed ${model}/${version} (${pushed.files.join(', ')})${found.signer ? `, signed by ${found.signer}` : ''}\n`);
    process.stdout.write(`${formatOciReference({ host: ref.host, repository: ref.repository, digest: pushed.digest })}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`vigil models push: ${(err as Error).message}\n`);
    return 1;
  }
}

/**
 * `vigil models pull oci://host/repo@sha256:… [--as model/version]`: the artifact into the
 * repository as `<model>/<version>/` (by default the model and version it was pushed as), every
 * layer checked against the manifest, then the version checked as a load would (digest,
 * signature): one that would not load is removed again.
 */
export async function modelsPullCommand(reference: string, opts: ModelsOciOptions): Promise<number> {
  let target: string | undefined;
  let staging: string | undefined;
  try {
    if (opts.as !== undefined && opts.as.split('/').length !== 2) throw new Error(`--as takes <model>/<version>, not '${opts.as}'`);
    const { config } = await loadConfig(opts.config);
    const ref = parseOciReference(reference);
    const settings = await ociSettingsOf(config.models, opts.plainHttp ? [ref.host] : []);
    const root = resolve(config.models.repository);
    staging = join(root, `.pull-${process.pid}`);
    const pulled = await pullModelVersion(ref, settings.access(ref.host), staging, settings.maxArtifactBytes);
    const [model, version] = opts.as ? opts.as.split('/') : [pulled.model, pulled.version];
    if (!NAME_PATTERN.test(model) || !VERSION_PATTERN.test(version)) {
      throw new Error(`'${model}/${version}' is not a model name and version vigil serves; give --as <model>/<version>`);
    }
    target = join(root, model, version);
    if (await exists(target)) {
      target = undefined;
      throw new Error(`${join(config.models.repository, model, version)} exists already: a version is never overwritten (pull it --as another version)`);
    }
    await mkdir(join(root, model), { recursive: true });
    await rename(staging, target);
    staging = undefined;
    const check = (await scanModel(root, model, await artifactTrustOf(config.models), artifactSourceOf(settings))).versions.find((v) => v.version === version);
    if (check?.status === 'refused' && !check.excluded) throw new Error(`${model}/${version} would not load, so it was removed again: ${check.reason}`);
    const signer = check?.status === 'ok' && check.signer ? `, signed by ${check.signer}` : '';
    process.stdout.write(`pulled ${formatOciReference({ ...ref, digest: pulled.digest })} into ${join(config.models.repository, model, version)} (${pulled.files.join(', ')})${signer}\n`);
    return 0;
  } catch (err) {
    if (staging) await rm(staging, { recursive: true, force: true });
    else if (target) await rm(target, { recursive: true, force: true });
    process.stderr.write(`vigil models pull: ${(err as Error).message}\n`);
    return 1;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
