// vigil on Redis stores (skipped, saying so, where redis-server is not installed): Redis killed
// mid-traffic gives the policy's on_store_failure, coded and audited, never a 500 or a hang; the
// requests are served again once it is back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { sample } from '../helpers/prom-text.js';
import { waitFor } from '../helpers/wait-for.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

const policy = (onStoreFailure: string) => `
version: 1
roles:
  analyst: the demo models
grants:
  - id: analyst-models
    roles: [analyst]
    actions: [infer, metadata]
    models: [digits]
limits:
  on_store_failure: ${onStoreFailure}
  roles:
    analyst: { requests_per_minute: 1000, concurrency: 8 }
`;

for (const mode of ['fail_closed', 'fail_open'] as const) {
  describe(`vigil on Redis stores, ${mode}`, { skip: redisSkip }, () => {
    let redis: TestRedis;
    let vigil: TestVigil;
    before(async () => {
      redis = await startRedis();
      const store = { kind: 'redis' as const, url: redis.url, command_timeout_ms: 200 };
      vigil = await startTestVigil({ policy: { file: await writePolicy(policy(mode)) }, limits: { store }, screening: { store }, auth: { failures: { store } } });
    });
    after(async () => {
      await vigil?.stop();
      await redis?.stop();
    });

    test('Redis killed mid-traffic gives the configured fail mode; back, it serves again', async () => {
      const headers = await vigil.auth(['analyst'], 'alice');
      const infer = (id: string) => postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), { ...headers, 'x-request-id': id });
      assert.equal((await infer('before')).status, 200);
      const storeUp = async () => sample((await rawRequest(vigil.adminPort, 'GET', '/metrics')).text, 'vigil_store_up', { store: 'rate_limits', kind: 'redis' });
      assert.equal(await storeUp(), 1);
      await redis.kill();
      const started = Date.now();
      const during = await infer('during');
      assert.ok(Date.now() - started < 3_000, 'answered within the command timeouts, never a hang');
      assert.equal(await storeUp(), 0, 'vigil_store_up says the store is down (VigilStoreDown fires on it)');
      if (mode === 'fail_closed') {
        assert.equal(during.status, 503);
        assert.ok(['STORE_UNAVAILABLE', 'LIMITER_UNAVAILABLE'].includes(during.json.code as string), `coded: ${String(during.json.code)}`);
        assert.ok(during.headers['retry-after']);
      } else {
        assert.equal(during.status, 200, 'fail_open serves without the shared checks');
      }
      await redis.restart();
      // fail_open serves throughout, so wait for the store itself to be back before judging it.
      await waitFor('vigil_store_up back to 1', async () => (await storeUp()) === 1 || undefined, 10_000);
      const after = await infer('after');
      assert.equal(after.status, 200, 'served again once Redis is back');
      const records = [];
      for await (const r of queryAudit(vigil.config.audit.dir)) if (r.type === 'request' && r.client_request_id === 'during') records.push(r);
      assert.equal(records.length, 1, 'the request during the outage is audited');
      const rec = records[0];
      assert.ok(rec.type === 'request');
      if (mode === 'fail_closed') assert.match(String(rec.rule), /^(store|limit):/);
      else assert.ok(rec.shadow_denials.some((d) => /^(store:.*-failed|limit:store-failed)$/.test(d)), `recorded: ${JSON.stringify(rec.shadow_denials)}`);
    });
  });
}
