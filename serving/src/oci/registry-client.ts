import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { OciReference } from './oci-reference.js';

/** How vigil reaches one registry: HTTPS unless `plainHttp` (a loopback test registry), with credentials when it asks. */
export interface RegistryAccess {
  plainHttp: boolean;
  username?: string;
  password?: string;
  /** Each request's bound: no answer (headers, or the next body bytes) within it and it fails. */
  timeoutMs: number;
  /** The whole pull's bound, however the registry drips its bytes (models.oci.pull_timeout_ms). */
  pullTimeoutMs?: number;
}

/** A manifest is small; distribution refuses more than 4 MiB, and so does vigil. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 3;

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
}

// Its own connection pool: a global dispatcher installed by anything else must not change how
// vigil fetches the artifacts it serves.
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 8 });

/**
 * The OCI distribution API, as much of it as pushing and pulling a model version needs: blobs
 * (HEAD, monolithic POST+PUT upload, GET to a file with its digest checked as it streams) and
 * manifests (PUT, GET bounded in size). Basic and Bearer-token challenges are answered with the
 * configured credentials, the token kept per scope.
 */
export class RegistryClient {
  private readonly tokens = new Map<string, string>();

  constructor(
    private readonly ref: OciReference,
    private readonly access: RegistryAccess,
    /** Aborts every request of this client (a pull past its deadline). */
    private readonly signal?: AbortSignal,
  ) {}

  private get origin(): string {
    return `${this.access.plainHttp ? 'http' : 'https'}://${this.ref.host}`;
  }

  private get base(): string {
    return `${this.origin}/v2/${this.ref.repository}`;
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.send('HEAD', `${this.base}/blobs/${digest}`, { scope: 'pull' });
    res.body.destroy();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new RegistryError(`HEAD blob ${digest}: HTTP ${res.statusCode}`);
  }

  /** Uploads a file as a blob (skipped when the registry has it already). */
  async pushBlob(path: string, digest: string): Promise<void> {
    await this.upload(digest, (await stat(path)).size, () => createReadStream(path));
  }

  /** Uploads bytes held in memory (the config blob) as a blob. */
  async pushBytes(bytes: Buffer, digest: string): Promise<void> {
    await this.upload(digest, bytes.length, () => bytes);
  }

  /** A monolithic upload: POST for a location, then one PUT of the whole blob with its digest. */
  private async upload(digest: string, size: number, body: () => Buffer | NodeJS.ReadableStream): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const start = await this.send('POST', `${this.base}/blobs/uploads/`, { scope: 'push,pull', headers: { 'content-length': '0' } });
    await drain(start.body);
    const location = start.headers.location;
    if (start.statusCode !== 202 || typeof location !== 'string') throw new RegistryError(`starting an upload: HTTP ${start.statusCode}`);
    const url = new URL(location, this.origin);
    url.searchParams.set('digest', digest);
    const put = await this.send('PUT', url.toString(), { scope: 'push,pull', headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body });
    const text = await readText(put.body, 64 * 1024);
    if (put.statusCode !== 201) throw new RegistryError(`uploading ${digest}: HTTP ${put.statusCode} ${text.slice(0, 300)}`);
  }

  /** Writes a manifest under `reference` (a tag or its digest); returns the digest the registry gives it. */
  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string | undefined> {
    const res = await this.send('PUT', `${this.base}/manifests/${reference}`, { scope: 'push,pull', headers: { 'content-type': mediaType, 'content-length': String(bytes.length) }, body: () => bytes });
    const text = await readText(res.body, 64 * 1024);
    if (res.statusCode !== 201) throw new RegistryError(`writing the manifest: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
    const given = res.headers['docker-content-digest'];
    return typeof given === 'string' ? given : undefined;
  }

  /** The manifest's bytes and media type, at most MAX_MANIFEST_BYTES. */
  async getManifest(reference: string, accept: string): Promise<{ bytes: Buffer; mediaType: string }> {
    const res = await this.send('GET', `${this.base}/manifests/${reference}`, { scope: 'pull', headers: { accept } });
    if (res.statusCode !== 200) {
      await drain(res.body);
      throw new RegistryError(`manifest ${reference}: HTTP ${res.statusCode}${res.statusCode === 404 ? ' (not in the registry)' : ''}`);
    }
    const bytes = await readBytes(res.body, MAX_MANIFEST_BYTES);
    return { bytes, mediaType: String(res.headers['content-type'] ?? '') };
  }

  /**
   * Streams a blob to `path`, checking as it comes that it is exactly `size` bytes with this
   * digest; a mismatch leaves a partial file for the caller to remove, and throws.
   */
  async getBlob(digest: string, size: number, path: string): Promise<void> {
    let url = `${this.base}/blobs/${digest}`;
    let res = await this.send('GET', url, { scope: 'pull' });
    // Registries hand blobs to a CDN or object store: followed, without our credentials past our host.
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < MAX_REDIRECTS; hops++) {
      await drain(res.body);
      const location = res.headers.location;
      if (typeof location !== 'string') break;
      url = new URL(location, url).toString();
      res = await this.send('GET', url, { scope: 'pull' });
    }
    if (res.statusCode !== 200) {
      await drain(res.body);
      throw new RegistryError(`blob ${digest}: HTTP ${res.statusCode}`);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared !== size) {
      res.body.destroy();
      throw new RegistryError(`blob ${digest}: the registry sends ${declared} bytes, the manifest says ${size}`);
    }
    const hash = createHash('sha256');
    let seen = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > size) return done(new RegistryError(`blob ${digest}: more than the ${size} bytes the manifest says`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(res.body, check, createWriteStream(path, { mode: 0o644 }));
    const got = `sha256:${hash.digest('hex')}`;
    if (seen !== size || got !== digest) throw new RegistryError(`blob ${digest}: received ${seen} bytes with digest ${got}: not what the manifest pins`);
  }

  /** One request, with the registry's challenge answered once when it asks for credentials. */
  private async send(method: Dispatcher.HttpMethod, url: string, opts: { scope: string; headers?: Record<string, string>; body?: () => Buffer | NodeJS.ReadableStream }): Promise<Dispatcher.ResponseData> {
    // Credentials go to the registry's own origin (scheme, host and port) only: an upload
    // location or a blob redirect elsewhere (object storage, a CDN, a downgrade to http) gets none.
    if (new URL(url).origin !== new URL(this.origin).origin) return this.raw(method, url, { ...opts.headers }, opts.body?.());
    const scopeKey = `repository:${this.ref.repository}:${opts.scope}`;
    const token = this.tokens.get(scopeKey);
    const auth: Record<string, string> = token ? { authorization: token } : {};
    const res = await this.raw(method, url, { ...opts.headers, ...auth }, opts.body?.());
    if (res.statusCode !== 401) return res;
    await drain(res.body);
    const challenge = String(res.headers['www-authenticate'] ?? '');
    const answer = await this.answer(challenge, scopeKey);
    this.tokens.set(scopeKey, answer);
    return this.raw(method, url, { ...opts.headers, authorization: answer }, opts.body?.());
  }

  private async answer(challenge: string, scope: string): Promise<string> {
    const { username, password } = this.access;
    const basic = username !== undefined ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : undefined;
    if (/^basic\b/i.test(challenge)) {
      if (!basic) throw new RegistryError(`${this.ref.host} asks for credentials (basic) and none are configured`);
      return basic;
    }
    const bearer = /^bearer\s+(.*)$/i.exec(challenge);
    if (!bearer) throw new RegistryError(`${this.ref.host} answered 401 without a challenge vigil understands`);
    const params = Object.fromEntries([...bearer[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1].toLowerCase(), m[2]]));
    if (!params.realm) throw new RegistryError(`${this.ref.host}: a bearer challenge without a realm`);
    const realm = new URL(params.realm);
    if (realm.protocol !== 'https:' && !(this.access.plainHttp && realm.protocol === 'http:')) throw new RegistryError(`${this.ref.host}: the token realm ${realm.origin} is not HTTPS`);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? scope);
    const res = await this.raw('GET', realm.toString(), basic ? { authorization: basic } : ({} as Record<string, string>));
    const text = await readText(res.body, 64 * 1024);
    if (res.statusCode !== 200) throw new RegistryError(`token from ${realm.origin}: HTTP ${res.statusCode}`);
    let body: { token?: unknown; access_token?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError(`token from ${realm.origin}: not JSON`);
    }
    const token = body.token ?? body.access_token;
    if (typeof token !== 'string' || token.length === 0) throw new RegistryError(`token from ${realm.origin}: no token in the answer`);
    return `Bearer ${token}`;
  }

  private async raw(method: Dispatcher.HttpMethod, url: string, headers: Record<string, string>, body?: Buffer | NodeJS.ReadableStream): Promise<Dispatcher.ResponseData> {
    try {
      const res = await request(url, { dispatcher: agent, method, headers: { 'user-agent': 'vigil', ...headers }, body: body as Buffer | undefined, headersTimeout: this.access.timeoutMs, bodyTimeout: this.access.timeoutMs, signal: this.signal });
      res.body.on('error', () => {});
      return res;
    } catch (err) {
      if (this.signal?.aborted) throw new RegistryError(`${method} ${new URL(url).origin}: the pull took longer than models.oci.pull_timeout_ms (${this.access.pullTimeoutMs} ms)`);
      const code = (err as { code?: string }).code;
      throw new RegistryError(`${method} ${new URL(url).origin}: ${code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? `no answer within ${this.access.timeoutMs} ms` : (code ?? (err as Error).message)}`);
    }
  }
}

async function drain(body: Dispatcher.ResponseData['body']): Promise<void> {
  await readText(body, 64 * 1024).catch(() => undefined);
}

async function readBytes(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += (chunk as Buffer).length;
    if (n > max) {
      body.destroy();
      throw new RegistryError(`an answer over ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readText(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  return (await readBytes(body, max)).toString('utf8');
}
