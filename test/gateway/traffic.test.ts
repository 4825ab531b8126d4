// Versions and traffic (issue 17, item 1): a model's traffic.yaml chooses which versions are
// served, splits unversioned requests between them (sticky per caller) and sends a copy of a share
// of requests to a shadow version, whose answers are compared, never returned.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { verifyAudit } from '../../gateway/src/audit/verify.js';
import { stickyBucket } from '../../gateway/src/stages/select-version.js';
import { scanRepository } from '../../serving/src/model-repository.js';
import { inferRequest, loadHeldout } from '../helpers/heldout.js';
import { copyVersion, wrongVersion } from '../helpers/model-versions.js';
import { writePolicy } from '../helpers/policy-file.js';
import { copyOfModels, postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

describe('traffic.yaml: versions, a sticky canary split, shadow comparison', () => {
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  let vigil: TestVigil;
  before(async () => {
    repo = await copyOfModels();
    await copyVersion(repo.dir, 'mnist', '1', '2');
    await wrongVersion(repo.dir, 'mnist', '1', '3');
    await writeFile(join(repo.dir, 'mnist', 'traffic.yaml'), 'versions: { specific: ["1", "2", "3"] }\nsplit: { "1": 90, "2": 10 }\nshadow: { version: "3", share: 1, min_agreement: 0.95 }\n');
    const policy = await writePolicy(`version: 1
roles: { analyst: all versions, v2only: version 2 only }
grants:
  - { id: all, roles: [analyst], actions: [infer, metadata], models: [mnist, digits] }
  - { id: two, roles: [v2only], actions: [infer, metadata], models: [mnist], versions: ["2"] }
limits:
  roles:
    analyst: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
    v2only: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 }
`);
    // A shadow copy may wait a minute (the request timeout) and a frozen worker is not replaced:
    // a client held by its copy would then wait far past the bound the shadow test allows.
    vigil = await startTestVigil({ models: { repository: repo.dir }, policy: { file: policy }, server: { request_timeout_ms: 60_000 }, pools: { health: { interval_ms: 60_000 } } });
  });
  after(async () => {
    await vigil?.stop();
    await repo?.cleanup();
  });
  const h = loadHeldout('mnist');

  test("statistics without a version list only the versions the caller may see", async () => {
    // A caller the split sends to version 2 (an unversioned request is judged on the version chosen for it).
    let sub = '';
    for (let i = 0; !sub && i < 500; i++) if (stickyBucket('mnist', `user:two-${i}`) >= 90) sub = `two-${i}`;
    const v2only = await vigil.auth(['v2only'], sub);
    const r = await rawRequest(vigil.port, 'GET', '/v2/models/mnist/versions/2/stats', { headers: v2only });
    assert.equal(r.status, 200);
    const all = await rawRequest(vigil.port, 'GET', '/v2/models/mnist/stats', { headers: v2only });
    assert.deepEqual(all.json.model_stats.map((s: { version: string }) => s.version), ['2']);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/mnist/versions/1/stats', { headers: v2only })).status, 403);
  });

  test('an unversioned request goes where the caller\'s sticky bucket falls: one caller, one version', async () => {
    let onCanary = 0;
    for (let i = 0; i < 30; i++) {
      const sub = `caller-${i}`;
      const auth = await vigil.auth(['analyst'], sub);
      const expected = stickyBucket('mnist', `user:${sub}`) < 90 ? '1' : '2';
      for (let n = 0; n < 2; n++) {
        const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40 + n]), auth);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.model_version, expected, `${sub} is in bucket ${stickyBucket('mnist', `user:${sub}`)}`);
      }
      if (expected === '2') onCanary++;
    }
    assert.ok(onCanary >= 1 && onCanary <= 9, `${onCanary} of 30 callers on the 10% canary`);
  });

  test('a copy goes to the shadow version; its wrong answers are compared and counted, never returned', async () => {
    const auth = { ...(await vigil.auth(['analyst'], 'shadowed')), 'x-request-id': 'shadowed-1' };
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40, 41, 42]), auth);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.outputs.find((o: { name: string }) => o.name === 'label').data, [40, 41, 42].map((i) => h.labels[i]), 'the answer is the serving version\'s');
    const scrape = async () => (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    const text = await waitFor('shadow comparisons in the metrics', async () => {
      const t = await scrape();
      return /vigil_shadow_rows_total\{[^}]*agree="false"[^}]*\} [1-9]/.test(t) ? t : undefined;
    }, 10_000);
    const rows = (agree: string) => [...text.matchAll(new RegExp(`vigil_shadow_rows_total\\{([^}]*)\\} (\\d+)`, 'g'))].filter((m) => m[1].includes(`agree="${agree}"`) && m[1].includes('shadow_version="3"')).reduce((n, m) => n + Number(m[2]), 0);
    assert.ok(rows('false') > 0.8 * (rows('true') + rows('false')), `the rotated version disagrees: ${rows('false')} of ${rows('true') + rows('false')} rows`);
    assert.match(text, /vigil_shadow_min_agreement\{[^}]*model="mnist"[^}]*\} 0\.95/);
    let record;
    for await (const rec of queryAudit(vigil.config.audit.dir, { requestId: 'shadowed-1' })) record = rec;
    assert.ok(record?.type === 'request');
    assert.equal(record.shadow_version, '3');
  });

  test('a shadow that hangs costs the clients nothing: 48 requests at once are answered, copies past the bound are skipped', async () => {
    const shadow = vigil.registry.resolve('mnist', '3');
    assert.equal(shadow.status, 'serving');
    const pid = shadow.pool!.workers[0].pid!;
    const skipped = async () =>
      [...(await rawRequest(vigil.adminPort, 'GET', '/metrics')).text.matchAll(/vigil_shadow_requests_total\{([^}]*)\} (\d+)/g)].filter((m) => m[1].includes('outcome="skipped"')).reduce((n, m) => n + Number(m[2]), 0);
    const before = await skipped();
    // Six callers on the stable version (the split's buckets), eight requests each, all at once.
    const subs: string[] = [];
    for (let i = 0; subs.length < 6 && i < 500; i++) if (stickyBucket('mnist', `user:load-${i}`) < 90) subs.push(`load-${i}`);
    const auths = await Promise.all(subs.map((s) => vigil.auth(['analyst'], s)));
    process.kill(pid, 'SIGSTOP');
    try {
      const all = Promise.all(auths.flatMap((auth) => Array.from({ length: 8 }, (_, n) => postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40 + n]), auth))));
      // Copies wait up to a minute on the frozen shadow; the clients must not.
      const answers = await Promise.race([all, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('clients waited on their shadow copies')), 30_000))]);
      assert.deepEqual([...new Set(answers.map((r) => r.status))], [200]);
      assert.ok(answers.every((r) => r.json.model_version === '1'));
      assert.ok((await skipped()) - before >= 48 - 32, 'at most 32 copies in flight');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The health checker may have replaced the frozen worker meanwhile: the next test needs v3 up.
    await waitFor('version 3 serving again', async () => (await postJson(vigil.port, '/v2/models/mnist/versions/3/infer', inferRequest('mnist', [40]), auths[0])).status === 200, 20_000, 200);
  });

  test('a version asked for by name is served as it is, the shadow one included', async () => {
    const r = await postJson(vigil.port, '/v2/models/mnist/versions/3/infer', inferRequest('mnist', [40]), await vigil.auth(['analyst'], 'direct'));
    assert.equal(r.status, 200);
    assert.equal(r.json.outputs.find((o: { name: string }) => o.name === 'label').data[0], (h.labels[40] + 9) % 10, 'classes rotated by one');
  });
});

describe('traffic.yaml at load', () => {
  test('versions: latest 1 serves only the highest; a split or shadow to a version not served refuses the model', async () => {
    const repo = await copyOfModels();
    try {
      await copyVersion(repo.dir, 'digits', '1', '2');
      await writeFile(join(repo.dir, 'digits', 'traffic.yaml'), 'versions: { latest: 1 }\n');
      let digits = (await scanRepository(repo.dir)).models.get('digits')!;
      assert.deepEqual(digits.map((v) => [v.version, v.status]), [['2', 'ok'], ['1', 'refused']]);
      await writeFile(join(repo.dir, 'digits', 'traffic.yaml'), 'versions: { latest: 1 }\nsplit: { "1": 50, "2": 50 }\n');
      digits = (await scanRepository(repo.dir)).models.get('digits')!;
      assert.ok(digits.every((v) => v.status === 'refused' && /routes to version 1, which is not served/.test(v.reason)));
      await writeFile(join(repo.dir, 'digits', 'traffic.yaml'), 'split: { "1": 50, "2": 40 }\n');
      digits = (await scanRepository(repo.dir)).models.get('digits')!;
      assert.ok(digits.every((v) => v.status === 'refused' && /weights must add up to 100/.test(v.reason)));
      assert.equal((await scanRepository(repo.dir)).models.get('mnist')![0].status, 'ok', 'other models are not touched');
    } finally {
      await repo.cleanup();
    }
  });
});

describe('automatic rollback of a canary that breaks its limits', () => {
  test('a wrong v3 as a 10% canary and shadow: its agreement falls under the limit, its traffic goes back to v1, audited, and the log verifies', async () => {
    const repo = await copyOfModels();
    await wrongVersion(repo.dir, 'mnist', '1', '3');
    await writeFile(join(repo.dir, 'mnist', 'traffic.yaml'), 'split: { "1": 90, "3": 10 }\nshadow: { version: "3", share: 1 }\nrollback: { min_agreement: 0.9, max_error_ratio: 0.05, min_requests: 5, check_every_ms: 200 }\n');
    const vigil = await startTestVigil({ models: { repository: repo.dir } });
    try {
      // A caller the split puts on the canary, and one it does not.
      let onCanary = '';
      for (let i = 0; !onCanary && i < 500; i++) if (stickyBucket('mnist', `user:c-${i}`) >= 90) onCanary = `c-${i}`;
      const canaryAuth = await vigil.auth(['analyst'], onCanary);
      const before = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), canaryAuth);
      assert.equal(before.json.model_version, '3', 'the canary answers its callers before the rollback');
      const stable = await vigil.auth(['analyst'], 'stable-caller');
      for (let i = 0; i < 4; i++) assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [41 + i, 50 + i]), stable)).status, 200);
      const rollback = await waitFor('the rollback record', async () => {
        for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'admin', action: 'rollout.rollback' })) return rec;
        return undefined;
      }, 10_000);
      assert.ok(rollback.type === 'admin');
      assert.equal(rollback.principal, 'vigil');
      assert.deepEqual([rollback.detail.model, rollback.detail.version, rollback.detail.stable, rollback.detail.reason], ['mnist', '3', '1', 'agreement']);
      assert.ok((rollback.detail.agreement as number) < 0.9);
      assert.deepEqual(rollback.detail.split_after, { '1': 100, '3': 0 });
      const after = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), canaryAuth);
      assert.equal(after.json.model_version, '1', 'the canary\'s callers are back on the stable version');
      const verdict = await verifyAudit(vigil.config.audit.dir);
      assert.equal(verdict.ok, true, JSON.stringify(verdict.findings));
      assert.match((await rawRequest(vigil.adminPort, 'GET', '/metrics')).text, /vigil_rollbacks_total\{[^}]*reason="agreement"[^}]*version="3"[^}]*\} 1|vigil_rollbacks_total\{[^}]*version="3"[^}]*reason="agreement"[^}]*\} 1/);
    } finally {
      await vigil.stop();
      await repo.cleanup();
    }
  });
});
