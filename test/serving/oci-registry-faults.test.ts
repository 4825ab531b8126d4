// What vigil's registry client does with registries that misbehave, on loopback servers this test
// runs (the real docker-registry tests are in oci-artifacts.test.ts): credentials asked for by a
// challenge and never sent to another origin, and a registry that drips its bytes forever.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, pullModelVersion } from '../../serving/src/oci/model-artifact.js';
import { parseOciReference } from '../../serving/src/oci/oci-reference.js';
import { RegistryClient } from '../../serving/src/oci/registry-client.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; host: string }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('registry client against misbehaving registries', () => {
  const seen: { where: string; method: string; url: string; authorization?: string }[] = [];
  let registry: { server: Server; host: string };
  let elsewhere: { server: Server; host: string };
  let scratch: string;
  const blob = Buffer.from('model bytes');
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'vigil-oci-faults-'));
    elsewhere = await serve((req, res) => {
      seen.push({ where: 'elsewhere', method: req.method!, url: req.url!, authorization: req.headers.authorization });
      req.resume();
      req.on('end', () => res.writeHead(201).end());
    });
    registry = await serve((req, res) => {
      seen.push({ where: 'registry', method: req.method!, url: req.url!, authorization: req.headers.authorization });
      req.resume();
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/token') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'from-the-realm' }));
      if (req.headers.authorization !== 'Bearer from-the-realm') {
        return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${registry.host}/token",service="test-registry",scope="repository:team/model:pull,push"` }).end();
      }
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      // Uploads go to another origin, as registries backed by object storage send them.
      if (req.method === 'POST') return void res.writeHead(202, { location: `http://${elsewhere.host}/upload/1?state=abc` }).end();
      if (url.pathname.endsWith('/manifests/drip')) {
        // Every byte just inside the idle timeout: the pull only ends by its own deadline.
        const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, artifactType: ARTIFACT_TYPE, config: { mediaType: CONFIG_MEDIA_TYPE, digest: sha(Buffer.from('{}')), size: 2 }, layers: [{ mediaType: 'application/octet-stream', digest: sha(blob), size: blob.length, annotations: { 'org.opencontainers.image.title': 'model.yaml' } }] }));
        res.writeHead(200, { 'content-type': MANIFEST_MEDIA_TYPE, 'content-length': String(manifest.length) });
        let i = 0;
        const timer = setInterval(() => {
          if (res.destroyed || i >= manifest.length) return clearInterval(timer);
          res.write(manifest.subarray(i, ++i));
        }, 150);
        res.on('close', () => clearInterval(timer));
        return;
      }
      res.writeHead(404).end();
    });
  });
  after(async () => {
    registry?.server.closeAllConnections();
    elsewhere?.server.closeAllConnections();
    registry?.server.close();
    elsewhere?.server.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('a bearer challenge is answered from its realm with the configured credentials; an upload sent to another origin gets none', async () => {
    const client = new RegistryClient(parseOciReference(`oci://${registry.host}/team/model`), { plainHttp: true, username: 'ci', password: 's3cret', timeoutMs: 5_000 });
    await client.pushBytes(blob, sha(blob));
    const token = seen.find((s) => s.url.startsWith('/token'));
    assert.ok(token, 'the realm was asked');
    assert.equal(token.authorization, `Basic ${Buffer.from('ci:s3cret').toString('base64')}`);
    assert.match(token.url, /service=test-registry/);
    assert.ok(seen.some((s) => s.where === 'registry' && s.method === 'POST' && s.authorization === 'Bearer from-the-realm'));
    const put = seen.find((s) => s.where === 'elsewhere');
    assert.equal(put?.method, 'PUT');
    assert.match(put.url, /digest=sha256%3A|digest=sha256:/);
    assert.equal(put.authorization, undefined, 'no credentials leave the registry\'s origin');
  });

  test('a registry that drips its answer is cut off at models.oci.pull_timeout_ms, and nothing is written', async () => {
    const target = join(scratch, 'pulled');
    await assert.rejects(
      pullModelVersion(parseOciReference(`oci://${registry.host}/team/model:drip`), { plainHttp: true, timeoutMs: 1_000, pullTimeoutMs: 1_500 }, target, 1024 * 1024),
      /the pull took longer than models\.oci\.pull_timeout_ms \(1500 ms\)/,
    );
    await assert.rejects(stat(target));
  });
});
