import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { artifactDir, type OciSettings } from '../../../serving/src/oci/artifact-cache.js';
import type { RegistryAccess } from '../../../serving/src/oci/registry-client.js';
import type { ArtifactSource } from '../../../serving/src/model-repository.js';
import type { VigilConfig } from './schema.js';

/**
 * `models.oci` as the registry client takes it, its password files read once (a missing one stops
 * the start, naming it). `plainHttp` adds hosts reached over plain HTTP (the CLI's --plain-http).
 */
export async function ociSettingsOf(models: VigilConfig['models'], plainHttp: readonly string[] = []): Promise<OciSettings> {
  const { oci } = models;
  const access = new Map<string, RegistryAccess>();
  for (const r of oci.registries) {
    let password: string | undefined;
    if (r.password_file) {
      try {
        password = (await readFile(r.password_file, 'utf8')).trim();
      } catch (err) {
        throw new Error(`models.oci.registries ${r.host}: cannot read password_file ${r.password_file}: ${(err as Error).message}`);
      }
    }
    access.set(r.host, { plainHttp: r.plain_http, username: r.username, password, timeoutMs: oci.timeout_ms, pullTimeoutMs: oci.pull_timeout_ms });
  }
  return {
    cacheDir: resolve(oci.cache_dir),
    maxArtifactBytes: oci.max_artifact_bytes,
    access: (host) => {
      const found = access.get(host) ?? { plainHttp: false, timeoutMs: oci.timeout_ms, pullTimeoutMs: oci.pull_timeout_ms };
      return plainHttp.includes(host) ? { ...found, plainHttp: true } : found;
    },
  };
}

/** What the repository scan calls for a version kept in a registry. */
export function artifactSourceOf(settings: OciSettings): ArtifactSource {
  return (source) => artifactDir(source, settings);
}
