import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { artifactClaims, SIGNATURE_FILE, signArtifact, SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../../serving/src/artifact-signing.js';
import { CONFIG_FILE, MODEL_FILE, scanRepository } from '../../../serving/src/model-repository.js';
import { loadConfig } from '../config/load-config.js';

export interface ModelsSignOptions {
  /** PKCS#8 PEM private key. */
  key: string;
  kid: string;
  alg?: string;
  config?: string;
}

/**
 * `vigil models sign <model> <version> --key private.pem --kid release-2026`: writes model.sig
 * beside the version's files, a detached JWS over its ONNX digest and its model.yaml. Signs only a
 * version that loads (its digest matches): a signature vouches for a servable artifact. Exit 0,
 * or 2 with the reason.
 */
export async function modelsSignCommand(model: string, version: string, opts: ModelsSignOptions): Promise<number> {
  try {
    const alg = (opts.alg ?? 'EdDSA') as SigningAlgorithm;
    if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) throw new Error(`--alg must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
    const { config } = await loadConfig(opts.config);
    const found = (await scanRepository(config.models.repository)).models.get(model)?.find((v) => v.version === version);
    if (!found) throw new Error(`${model}/${version} is not in ${config.models.repository}`);
    if (found.status !== 'ok') throw new Error(`${model}/${version} would not load, so it is not signed: ${found.reason}`);
    const claims = await artifactClaims(model, version, found.dir, found.config.backend.kind === 'local' ? MODEL_FILE : null, CONFIG_FILE);
    const signature = await signArtifact(claims, await readFile(opts.key, 'utf8'), alg, opts.kid);
    await writeFile(join(found.dir, SIGNATURE_FILE), `${signature}\n`);
    process.stdout.write(`signed ${model}/${version} (${claims.digest ?? 'remote'}, model.yaml ${claims.config_digest}) with ${opts.kid}: ${join(found.dir, SIGNATURE_FILE)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`vigil models sign: ${(err as Error).message}\n`);
    return 2;
  }
}
