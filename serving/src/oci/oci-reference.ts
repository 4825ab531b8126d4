/**
 * `oci://host[:port]/repository[:tag][@sha256:…]`: where a model version lives in an OCI registry.
 * The grammar is the distribution spec's (repository path components, tags, digests); anything
 * else is refused here, so nothing odd reaches a URL.
 */
export interface OciReference {
  /** host[:port], as the registry is addressed */
  host: string;
  repository: string;
  tag?: string;
  /** sha256:<64 hex>: pins the manifest, so the artifact cannot change under the reference */
  digest?: string;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function parseOciReference(text: string): OciReference {
  if (!text.startsWith('oci://')) throw new Error(`'${text}' is not an oci:// reference`);
  let rest = text.slice('oci://'.length);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new Error(`'${text}': the digest is not sha256:<64 lower-case hex>`);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new Error(`'${text}': expected oci://host/repository`);
  const host = rest.slice(0, slash);
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(':');
  if (colon >= 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`'${text}': '${tag}' is not a valid tag`);
  }
  if (!HOST.test(host)) throw new Error(`'${text}': '${host}' is not a valid registry host`);
  if (repository.length > 255 || !REPOSITORY.test(repository)) throw new Error(`'${text}': '${repository}' is not a valid repository name (lower-case path components)`);
  return { host, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatOciReference(ref: OciReference): string {
  return `oci://${ref.host}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
