// Issue 17's walkthrough, end to end, as the README's "Rolling out a model" runs it: v2 of mnist
// signed and pushed to a real OCI registry, loaded live from it as a 10% canary with shadow
// comparison; then a v3 that answers wrongly, loaded the same way, rolled back automatically.
// Every step is in the audit log, and `vigil audit verify` holds.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { stickyBucket } from '../../gateway/src/stages/select-version.js';
import { inferRequest, loadHeldout } from '../helpers/heldout.js';
import { wrongVersion } from '../helpers/model-versions.js';
import { registrySkip, startRegistry, type TestRegistry } from '../helpers/oci-registry.js';
import { runVigil } from '../helpers/run-node.js';
import { copyOfModels, postJson, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

describe('rolling out a model from an OCI registry: signed, loaded live as a canary with shadow, rolled back when it breaks', { skip: registrySkip }, () => {
  let registry: TestRegistry;
  let served: Awaited<ReturnType<typeof copyOfModels>>;
  let scratch: string;
  let vigil: TestVigil;
  const f = { key: '', pub: '', build: '', buildConfig: '', servedConfig: '' };
  const h = loadHeldout('mnist');

  before(async () => {
    registry = await startRegistry();
    served = await copyOfModels();
    scratch = await mkdtemp(join(tmpdir(), 'vigil-rollout-'));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    Object.assign(f, { key: join(scratch, 'release.pem'), pub: join(scratch, 'release.pub'), build: join(scratch, 'build'), buildConfig: join(scratch, 'build.yaml'), servedConfig: join(scratch, 'served.yaml') });
    await writeFile(f.key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(f.pub, publicKey.export({ type: 'spki', format: 'pem' }));
    const models = (repository: string) => `models:
  repository: ${repository}
  trusted_keys: [{ kid: release, alg: EdDSA, public_key_file: ${f.pub} }]
  require_signatures: true
  oci:
    cache_dir: ${join(scratch, 'oci-cache')}
    registries: [{ host: "${registry.host}", plain_http: true }]
`;
    await writeFile(f.buildConfig, models(f.build));
    await writeFile(f.servedConfig, models(served.dir));
    // What is serving today is signed too: require_signatures holds for every version.
    for (const m of ['mnist', 'digits']) assert.equal((await runVigil(['models', 'sign', m, '1', '--key', f.key, '--kid', 'release', '-c', f.servedConfig])).code, 0);
    vigil = await startTestVigil({
      models: { repository: served.dir, trusted_keys: [{ kid: 'release', alg: 'EdDSA', public_key_file: f.pub }], require_signatures: true, oci: { cache_dir: join(scratch, 'oci-cache'), registries: [{ host: registry.host, plain_http: true }] } },
    });
  });
  after(async () => {
    await vigil?.stop();
    await registry?.stop();
    await served?.cleanup();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** Builds `version` in the build repository (`make` writes it), signs it and pushes it; returns the reference by digest. */
  async function release(version: string, make: (repo: string) => Promise<void>): Promise<string> {
    await mkdir(join(f.build, 'mnist'), { recursive: true });
    await make(f.build);
    const signed = await runVigil(['models', 'sign', 'mnist', version, '--key', f.key, '--kid', 'release', '-c', f.buildConfig]);
    assert.equal(signed.code, 0, signed.stderr);
    const pushed = await runVigil(['models', 'push', 'mnist', version, `oci://${registry.host}/models/mnist:${version}`, '-c', f.buildConfig]);
    assert.equal(pushed.code, 0, pushed.stderr);
    return pushed.stdout.trim().split('\n').at(-1)!;
  }

  /** Points the served repository's `version` at the registry, and sets the split and shadow. */
  async function stage(version: string, reference: string): Promise<void> {
    await mkdir(join(served.dir, 'mnist', version), { recursive: true });
    await writeFile(join(served.dir, 'mnist', version, 'model.yaml'), `source: ${reference}\n`);
    await writeFile(
      join(served.dir, 'mnist', 'traffic.yaml'),
      `split: { "1": 90, "${version}": 10 }\nshadow: { version: "${version}", share: 1, min_agreement: 0.9 }\nrollback: { min_agreement: 0.9, max_error_ratio: 0.05, min_requests: 10, check_every_ms: 200 }\n`,
    );
  }

  const loadLive = async () => {
    const token = (await vigil.auth(['admin'], 'release-manager')).authorization.slice('Bearer '.length);
    return runVigil(['models', 'load', 'mnist', '--admin-url', `http://127.0.0.1:${vigil.adminPort}`, '--token', token]);
  };

  const onCanary = (n: number) => {
    const subs: string[] = [];
    for (let i = 0; subs.length < n && i < 2_000; i++) if (stickyBucket('mnist', `user:canary-${i}`) >= 90) subs.push(`canary-${i}`);
    return subs;
  };

  test('v2, signed and pushed, is loaded live from the registry as a 10% canary; its shadow agrees; nothing is rolled back', async () => {
    const ref = await release('2', (repo) => cp(join(served.dir, 'mnist', '1'), join(repo, 'mnist', '2'), { recursive: true, filter: (src) => !src.endsWith('model.sig') }));
    await stage('2', ref);
    const loaded = await loadLive();
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stdout, /mnist\/2: loaded \(signed by release\)/);
    assert.match(loaded.stdout, /mnist\/1: kept/);
    const [caller] = onCanary(1);
    const auth = await vigil.auth(['analyst'], caller);
    for (let i = 0; i < 12; i++) {
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40 + i]), auth);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.model_version, '2');
    }
    const stable = await vigil.auth(['analyst'], 'steady');
    for (let i = 0; i < 12; i++) assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [52 + i]), stable)).status, 200);
    // Two rounds of the guard, and still no rollback: v2 is the same network.
    await new Promise((r) => setTimeout(r, 600));
    for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'admin', action: 'rollout.rollback' })) assert.fail(`no rollback expected: ${JSON.stringify(rec)}`);
    let served2;
    for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'request', principal: `user:${caller}` })) served2 = rec;
    assert.ok(served2?.type === 'request');
    assert.equal(served2.version, '2');
    assert.equal(served2.signer, 'release');
  });

  test('v3 answers wrongly: loaded the same way, its shadow disagreement rolls it back, written to traffic.yaml, every step audited, the log verifies', async () => {
    const ref = await release('3', (repo) => wrongVersion(repo, 'mnist', '2', '3'));
    await stage('3', ref);
    const loaded = await loadLive();
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stdout, /mnist\/3: loaded \(signed by release\)/);
    const callers = onCanary(2);
    const canaryAuth = await vigil.auth(['analyst'], callers[0]);
    const first = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), canaryAuth);
    assert.equal(first.json.model_version, '3', 'the canary answers its callers until it is rolled back');
    const stable = await vigil.auth(['analyst'], 'steady');
    for (let i = 0; i < 6; i++) assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [41 + i, 60 + i]), stable)).status, 200);
    const rollback = await waitFor('the automatic rollback', async () => {
      for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'admin', action: 'rollout.rollback' })) return rec;
      return undefined;
    }, 15_000);
    assert.ok(rollback.type === 'admin');
    assert.deepEqual([rollback.detail.version, rollback.detail.stable, rollback.detail.reason, rollback.detail.persisted], ['3', '1', 'agreement', true]);
    const after = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), canaryAuth);
    assert.equal(after.json.model_version, '1');
    assert.equal(after.json.outputs.find((o: { name: string }) => o.name === 'label').data[0], h.labels[40]);
    assert.match(await readFile(join(served.dir, 'mnist', 'traffic.yaml'), 'utf8'), /split:\s*\n?\s*"?1"?: 100/);

    // The audit trail: both loads by the release manager with source and signer, the rollback, and the chain intact.
    const loads = [];
    for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'admin', action: 'models.load' })) if (rec.type === 'admin') loads.push(rec);
    assert.equal(loads.length, 2);
    assert.ok(loads.every((r) => r.principal === 'user:release-manager' && r.outcome === 'ok'));
    const v3 = (loads[1].detail.versions as { version: string; state: string; source?: string; signer?: string }[]).find((v) => v.version === '3');
    assert.deepEqual([v3?.state, v3?.source, v3?.signer], ['loaded', ref, 'release']);
    const verify = await runVigil(['audit', 'verify', vigil.config.audit.dir]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});
