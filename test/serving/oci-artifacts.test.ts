// Model versions in an OCI registry (issue 17, item 5), against a real one: Debian's
// docker-registry on loopback. `vigil models push|pull`, model.yaml `source: oci://…@sha256:…`
// pulled and verified at load, and what a registry that lies, serves foreign artifacts or hangs
// gets from vigil.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { artifactSourceOf, ociSettingsOf } from '../../gateway/src/config/oci-settings.js';
import { configSchema } from '../../gateway/src/config/schema.js';
import { scanModel } from '../../serving/src/model-repository.js';
import { MANIFEST_MEDIA_TYPE } from '../../serving/src/oci/model-artifact.js';
import { parseOciReference } from '../../serving/src/oci/oci-reference.js';
import { RegistryClient } from '../../serving/src/oci/registry-client.js';
import { runVigil } from '../helpers/run-node.js';
import { registrySkip, startRegistry, type TestRegistry } from '../helpers/oci-registry.js';
import { copyOfModels } from '../helpers/vigil-harness.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('OCI registry: push, pull, and versions that point to an artifact', { skip: registrySkip }, () => {
  let registry: TestRegistry;
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  let scratch: string;
  let configFile: string;
  let pushed: string;
  before(async () => {
    registry = await startRegistry();
    repo = await copyOfModels();
    scratch = await mkdtemp(join(tmpdir(), 'vigil-oci-'));
    configFile = join(scratch, 'vigil.yaml');
    await writeFile(configFile, `models:\n  repository: ${repo.dir}\n  oci:\n    cache_dir: ${join(scratch, 'cache')}\n    timeout_ms: 1000\n    registries: [{ host: "${registry.host}", plain_http: true }]\n`);
  });
  after(async () => {
    await registry?.stop();
    await repo?.cleanup();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });
  const settings = async () => ociSettingsOf(configSchema.parse({ models: { repository: repo.dir, oci: { cache_dir: join(scratch, 'cache'), timeout_ms: 1000, registries: [{ host: registry.host, plain_http: true }] } } }).models);
  const access = () => ({ plainHttp: true, timeoutMs: 5_000 });

  test('push writes one artifact of vigil\'s type, a layer per file, and prints the reference by digest', async () => {
    const r = await runVigil(['models', 'push', 'mnist', '1', `oci://${registry.host}/vigil/mnist:1`, '-c', configFile]);
    assert.equal(r.code, 0, r.stderr);
    const ref = r.stdout.trim().split('\n').at(-1)!;
    assert.match(ref, new RegExp(`^oci://${registry.host.replace('.', '\\.')}/vigil/mnist@sha256:[0-9a-f]{64}$`));
    pushed = ref;
    // What the registry holds, read back through the distribution API.
    const manifest = await fetch(`http://${registry.host}/v2/vigil/mnist/manifests/1`, { headers: { accept: MANIFEST_MEDIA_TYPE } });
    const bytes = Buffer.from(await manifest.arrayBuffer());
    assert.equal(sha(bytes), parseOciReference(ref).digest, 'the tag names the digest printed');
    const m = JSON.parse(bytes.toString());
    assert.equal(m.mediaType, MANIFEST_MEDIA_TYPE);
    assert.equal(m.artifactType, 'application/vnd.vigil.model.v1');
    assert.equal(m.config.mediaType, 'application/vnd.vigil.model.config.v1+json');
    const titles = m.layers.map((l: { annotations: Record<string, string> }) => l.annotations['org.opencontainers.image.title']).sort();
    assert.deepEqual(titles, (await readdir(join(repo.dir, 'mnist', '1'))).sort());
    const onnx = m.layers.find((l: { annotations: Record<string, string> }) => l.annotations['org.opencontainers.image.title'] === 'model.onnx');
    assert.equal(onnx.mediaType, 'application/vnd.vigil.model.onnx.v1');
    assert.equal(onnx.digest, sha(await readFile(join(repo.dir, 'mnist', '1', 'model.onnx'))));
  });

  test('pull writes the version into the repository, byte for byte, and refuses to overwrite one', async () => {
    const r = await runVigil(['models', 'pull', pushed, '--as', 'mnist/7', '-c', configFile]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of await readdir(join(repo.dir, 'mnist', '1'))) assert.deepEqual(await readFile(join(repo.dir, 'mnist', '7', f)), await readFile(join(repo.dir, 'mnist', '1', f)), f);
    const again = await runVigil(['models', 'pull', pushed, '--as', 'mnist/7', '-c', configFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists already/);
    const scan = await scanModel(repo.dir, 'mnist');
    assert.equal(scan.versions.find((v) => v.version === '7')?.status, 'ok');
    await rm(join(repo.dir, 'mnist', '7'), { recursive: true });
  });

  test('a model.yaml that is only `source: oci://…@sha256:…` loads the pulled artifact; a tag, a missing digest or an unreachable registry refuses the version', async () => {
    const dir = join(repo.dir, 'mnist', '5');
    await mkdir(dir);
    await writeFile(join(dir, 'model.yaml'), `source: ${pushed}\n`);
    const oci = artifactSourceOf(await settings());
    let v = (await scanModel(repo.dir, 'mnist', undefined, oci)).versions.find((x) => x.version === '5')!;
    assert.equal(v.status, 'ok', v.status === 'refused' ? v.reason : '');
    assert.equal(v.status === 'ok' && v.source, pushed);
    assert.ok(v.dir.startsWith(join(scratch, 'cache')), 'read from the cache');
    // A cached file damaged on disk is noticed and pulled again.
    await writeFile(join(v.dir, 'model.onnx'), 'not the model');
    v = (await scanModel(repo.dir, 'mnist', undefined, oci)).versions.find((x) => x.version === '5')!;
    assert.equal(v.status, 'ok', v.status === 'refused' ? v.reason : '');
    assert.equal(sha(await readFile(join(v.dir, 'model.onnx'))), sha(await readFile(join(repo.dir, 'mnist', '1', 'model.onnx'))));
    const listed = await runVigil(['models', 'list', '--json', '-c', configFile]);
    const row = JSON.parse(listed.stdout).models.find((m: { model: string; version: string }) => m.model === 'mnist' && m.version === '5');
    assert.deepEqual([row.status, row.source], ['ok', pushed], 'vigil models list pulls and checks it as the gateway does');

    const refusedFor = async (source: string) => {
      await writeFile(join(dir, 'model.yaml'), source);
      const x = (await scanModel(repo.dir, 'mnist', undefined, oci)).versions.find((y) => y.version === '5')!;
      assert.equal(x.status, 'refused');
      return x.status === 'refused' ? x.reason : '';
    };
    assert.match(await refusedFor(`source: oci://${registry.host}/vigil/mnist:1\n`), /names no digest/);
    assert.match(await refusedFor(`source: oci://${registry.host}/vigil/mnist@sha256:${'0'.repeat(64)}\n`), /HTTP 404/);
    assert.match(await refusedFor(`source: ${pushed}\ndigest: sha256:${'0'.repeat(64)}\n`), /holds that alone/);
    assert.match(await refusedFor(`source: oci://${registry.host.split(':')[0]}:1/vigil/mnist@sha256:${'1'.repeat(64)}\n`), /cannot pull/);
    await rm(dir, { recursive: true });
  });

  test('a registry that hangs fails the pull within models.oci.timeout_ms, and the version is refused', async () => {
    const dir = join(repo.dir, 'mnist', '6');
    await mkdir(dir);
    await writeFile(join(dir, 'model.yaml'), `source: oci://${registry.host}/vigil/mnist@sha256:${'2'.repeat(64)}\n`);
    registry.pause();
    try {
      const v = (await scanModel(repo.dir, 'mnist', undefined, artifactSourceOf(await settings()))).versions.find((x) => x.version === '6')!;
      assert.equal(v.status, 'refused');
      assert.match(v.status === 'refused' ? v.reason : '', /no answer within 1000 ms/);
    } finally {
      registry.resume();
      await rm(dir, { recursive: true });
    }
  });

  test('a blob the registry serves damaged is refused by its digest, and nothing is left in the repository', async () => {
    // Push a copy, then damage its model.onnx blob in the registry's own storage.
    const staging = await mkdtemp(join(tmpdir(), 'vigil-oci-staging-'));
    try {
      await mkdir(join(staging, 'digits'), { recursive: true });
      await cp(join(repo.dir, 'digits', '1'), join(staging, 'digits', '1'), { recursive: true });
      await writeFile(join(staging, 'vigil.yaml'), `models:\n  repository: ${staging}\n`);
      const r = await runVigil(['models', 'push', 'digits', '1', `oci://${registry.host}/vigil/digits`, '--plain-http', '-c', join(staging, 'vigil.yaml')]);
      assert.equal(r.code, 0, r.stderr);
      const ref = r.stdout.trim().split('\n').at(-1)!;
      const onnxDigest = sha(await readFile(join(repo.dir, 'digits', '1', 'model.onnx'))).slice('sha256:'.length);
      const blob = join(registry.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', onnxDigest.slice(0, 2), onnxDigest, 'data');
      const original = await readFile(blob);
      const damaged = Buffer.from(original);
      damaged[damaged.length - 1] ^= 0xff;
      await writeFile(blob, damaged);
      const pull = await runVigil(['models', 'pull', ref, '--as', 'digits/9', '-c', configFile]);
      assert.equal(pull.code, 1);
      assert.match(pull.stderr, /not what the manifest pins/);
      await assert.rejects(stat(join(repo.dir, 'digits', '9')));
      assert.deepEqual((await readdir(repo.dir)).filter((n) => n.startsWith('.')), [], 'no staging left behind');
      await writeFile(blob, original);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });

  test('a manifest of another type, or with a layer titled as a path, is refused before anything is written', async () => {
    const client = new RegistryClient(parseOciReference(`oci://${registry.host}/vigil/hostile`), access());
    const file = Buffer.from('x');
    await client.pushBytes(file, sha(file));
    const config = Buffer.from('{}');
    await client.pushBytes(config, sha(config));
    const put = async (manifest: object) => {
      const bytes = Buffer.from(JSON.stringify(manifest));
      await client.putManifest(sha(bytes), MANIFEST_MEDIA_TYPE, bytes);
      return `oci://${registry.host}/vigil/hostile@${sha(bytes)}`;
    };
    const layer = (title: string) => ({ mediaType: 'application/octet-stream', digest: sha(file), size: 1, annotations: { 'org.opencontainers.image.title': title } });
    const image = await put({ schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: 2 }, layers: [layer('model.yaml')] });
    const traversal = await put({ schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, artifactType: 'application/vnd.vigil.model.v1', config: { mediaType: 'application/vnd.vigil.model.config.v1+json', digest: sha(config), size: 2 }, layers: [layer('model.yaml'), layer('../../escaped')] });
    const foreign = await runVigil(['models', 'pull', image, '--as', 'hostile/1', '-c', configFile]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /not a vigil model artifact/);
    const escaped = await runVigil(['models', 'pull', traversal, '--as', 'hostile/1', '-c', configFile]);
    assert.equal(escaped.code, 1);
    assert.match(escaped.stderr, /not a file name vigil writes/);
    await assert.rejects(stat(join(repo.dir, 'escaped')));
    await assert.rejects(stat(join(repo.dir, 'hostile')));
  });
});
