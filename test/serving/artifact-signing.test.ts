// Signed model artifacts (issue 17, item 4): `vigil models sign` writes a detached JWS over a
// version's ONNX digest and model.yaml; with models.trusted_keys a signature must verify before
// the version loads, with require_signatures an unsigned version is refused, and every request a
// signed version serves names the signer in its audit record.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, importPKCS8 } from 'jose';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { artifactTrustOf } from '../../gateway/src/config/artifact-trust.js';
import { scanRepository } from '../../serving/src/model-repository.js';
import { inferRequest } from '../helpers/heldout.js';
import { runVigil } from '../helpers/run-node.js';
import { copyOfModels, postJson, startTestVigil } from '../helpers/vigil-harness.js';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { private: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), public: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

describe('signed model artifacts', () => {
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  const release = keyPair();
  const other = keyPair();
  let files: { releasePriv: string; releasePub: string; otherPriv: string; config: string };
  const trusted = (required: boolean) => artifactTrustOf({ trusted_keys: [{ kid: 'release-2026', alg: 'EdDSA', public_key_file: files.releasePub }], require_signatures: required });
  const sign = (model: string, kid: string, key: string) => runVigil(['models', 'sign', model, '1', '--key', key, '--kid', kid, '--config', files.config]);

  before(async () => {
    repo = await copyOfModels();
    files = { releasePriv: join(repo.dir, '..', `release-${process.pid}.pem`), releasePub: join(repo.dir, '..', `release-${process.pid}.pub`), otherPriv: join(repo.dir, '..', `other-${process.pid}.pem`), config: join(repo.dir, '..', `vigil-sign-${process.pid}.yaml`) };
    await writeFile(files.releasePriv, release.private);
    await writeFile(files.releasePub, release.public);
    await writeFile(files.otherPriv, other.private);
    await writeFile(files.config, `models:\n  repository: ${repo.dir}\n`);
  });
  after(() => repo?.cleanup());

  test('vigil models sign writes model.sig; it verifies with the trusted key and names its signer', async () => {
    const r = await sign('mnist', 'release-2026', files.releasePriv);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /signed mnist\/1 \(sha256:[0-9a-f]{64}, model\.yaml sha256:[0-9a-f]{64}\) with release-2026/);
    const sig = (await readFile(join(repo.dir, 'mnist', '1', 'model.sig'), 'utf8')).trim();
    assert.match(sig, /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/, 'a detached compact JWS');
    const scan = await scanRepository(repo.dir, await trusted(false));
    const mnist = scan.models.get('mnist')![0];
    assert.equal(mnist.status, 'ok');
    assert.equal(mnist.status === 'ok' && mnist.signer, 'release-2026');
    const digits = scan.models.get('digits')![0];
    assert.equal(digits.status, 'ok', 'unsigned is fine while signatures are not required');
    const required = (await scanRepository(repo.dir, await trusted(true))).models.get('digits')![0];
    assert.equal(required.status, 'refused');
    assert.match(required.status === 'refused' ? required.reason : '', /no model\.sig, and models\.require_signatures is on/);
  });

  test('a signature by an untrusted key, by the wrong key under a trusted kid, or of another JWS type is refused', async () => {
    assert.equal((await sign('digits', 'someone-else', files.otherPriv)).code, 0);
    let digits = (await scanRepository(repo.dir, await trusted(false))).models.get('digits')![0];
    assert.match(digits.status === 'refused' ? digits.reason : 'loaded', /signed by key "someone-else", which models\.trusted_keys does not list/, 'a bad signature refuses even when not required');
    assert.equal((await sign('digits', 'release-2026', files.otherPriv)).code, 0);
    digits = (await scanRepository(repo.dir, await trusted(false))).models.get('digits')![0];
    assert.match(digits.status === 'refused' ? digits.reason : 'loaded', /does not verify with key "release-2026"/);
    // A token signed by the trusted key is no model signature.
    const token = await new SignJWT({ model: 'digits' }).setProtectedHeader({ alg: 'EdDSA', kid: 'release-2026' }).sign(await importPKCS8(release.private, 'EdDSA'));
    const [h, , s] = token.split('.');
    await writeFile(join(repo.dir, 'digits', '1', 'model.sig'), `${h}..${s}`);
    digits = (await scanRepository(repo.dir, await trusted(false))).models.get('digits')![0];
    assert.match(digits.status === 'refused' ? digits.reason : 'loaded', /not a vigil model signature/);
    assert.equal((await sign('digits', 'release-2026', files.releasePriv)).code, 0);
    assert.equal((await scanRepository(repo.dir, await trusted(true))).models.get('digits')![0].status, 'ok');
  });

  test('changing model.yaml after signing (a threshold loosened, say) refuses the version', async () => {
    const yaml = join(repo.dir, 'digits', '1', 'model.yaml');
    const before = await readFile(yaml, 'utf8');
    try {
      await appendFile(yaml, '# edited\n');
      const digits = (await scanRepository(repo.dir, await trusted(false))).models.get('digits')![0];
      assert.match(digits.status === 'refused' ? digits.reason : 'loaded', /does not verify .* the model or its model\.yaml changed since it was signed/);
    } finally {
      await writeFile(yaml, before);
    }
  });

  test('through the gateway: a signed version serves and its audit records name the signer; an unsigned one is refused at load', async () => {
    const { rm } = await import('node:fs/promises');
    await rm(join(repo.dir, 'digits', '1', 'model.sig'));
    const vigil = await startTestVigil({ models: { repository: repo.dir, trusted_keys: [{ kid: 'release-2026', alg: 'EdDSA', public_key_file: files.releasePub }], require_signatures: true } });
    try {
      const auth = { ...(await vigil.auth(['analyst'], 'alice')), 'x-request-id': 'signed-1' };
      const served = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), auth);
      assert.equal(served.status, 200, served.text);
      const refused = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [40]), auth);
      assert.equal(refused.status, 503);
      assert.equal(refused.json.code, 'MODEL_UNAVAILABLE');
      let signer: string | undefined;
      for await (const rec of queryAudit(vigil.config.audit.dir, { requestId: 'signed-1', model: 'mnist' })) if (rec.type === 'request') signer = rec.signer;
      assert.equal(signer, 'release-2026');
    } finally {
      await vigil.stop();
    }
  });
});
