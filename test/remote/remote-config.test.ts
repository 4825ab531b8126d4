import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { scanRepository } from '../../serving/src/model-repository.js';
import { remoteRepository } from '../helpers/remote-models.js';
import { BUNDLED_MODELS, copyOfModels, startTestVigil } from '../helpers/vigil-harness.js';

test('a remote version loads with no model.onnx and no digest; a local one without a digest is refused, saying why', async () => {
  const repo = await remoteRepository({ digits: { kind: 'oip-http', url: 'http://127.0.0.1:9' } });
  const local = await copyOfModels();
  try {
    const yaml = join(repo.dir, 'digits', '1', 'model.yaml');
    await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/^digest: .*$/m, ''));
    const remote = (await scanRepository(repo.dir)).models.get('digits')![0];
    assert.equal(remote.status, 'ok', remote.status === 'refused' ? remote.reason : '');

    const localYaml = join(local.dir, 'mnist', '1', 'model.yaml');
    await writeFile(localYaml, (await readFile(localYaml, 'utf8')).replace(/^digest: .*$/m, ''));
    const mnist = (await scanRepository(local.dir)).models.get('mnist')![0];
    assert.equal(mnist.status, 'refused');
    assert.match(mnist.status === 'refused' ? mnist.reason : '', /digest: a model served by a local pool needs the sha256 digest/);
  } finally {
    await Promise.all([repo.cleanup(), local.cleanup()]);
  }
});

for (const [name, backend, problem] of [
  ['tls over http', { kind: 'oip-http', url: 'http://pool:8443', tls: { ca: 'ca.pem' } }, /tls needs an https:\/\/ url/],
  ['a certificate without its key', { kind: 'oip-http', url: 'https://pool:8443', tls: { cert: 'c.pem' } }, /needs its key/],
  ['another scheme', { kind: 'oip-http', url: 'ftp://pool/' }, /http:\/\/ or https:\/\//],
  ['credentials in the url', { kind: 'oip-http', url: 'https://user:pw@pool/' }, /credentials/],
  ['an unknown kind', { kind: 'grpc', url: 'https://pool/' }, /backend/],
  ['an unknown key', { kind: 'oip-http', url: 'https://pool/', retries: 3 }, /retries/],
] as const) {
  test(`a backend with ${name} is refused at load, naming the problem`, async () => {
    const repo = await remoteRepository({ digits: backend });
    try {
      const v = (await scanRepository(repo.dir)).models.get('digits')![0];
      assert.equal(v.status, 'refused');
      assert.match(v.status === 'refused' ? v.reason : '', problem);
    } finally {
      await repo.cleanup();
    }
  });
}

test('a remote version whose TLS file cannot be read is refused at start with the reason; the other models serve', async () => {
  const repo = await remoteRepository({ digits: { kind: 'oip-http', url: 'https://127.0.0.1:9', tls: { ca: 'no-such-ca.pem' } } });
  await cp(join(BUNDLED_MODELS, 'mnist'), join(repo.dir, 'mnist'), { recursive: true });
  const vigil = await startTestVigil({ models: { repository: repo.dir } });
  try {
    const digits = vigil.registry.versionsOf('digits')[0];
    assert.equal(digits.status, 'refused');
    assert.match(digits.status === 'refused' ? digits.reason : '', /cannot read the backend's TLS CA no-such-ca\.pem: ENOENT/);
    assert.equal(vigil.registry.versionsOf('mnist')[0].status, 'serving');
  } finally {
    await vigil.stop();
    await repo.cleanup();
  }
});
