// Three vigil replicas behind a real HAProxy (round robin), sharing one real Redis: what one
// replica counts, quarantines or learns of a caller, all of them do. Skipped, saying so, where
// redis-server or haproxy is not installed; `.ci/run` installs both. Loopback only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { loadOrCreateDevKey, mintDevToken } from '../../gateway/src/auth/dev-signing-key.js';
import { haproxySkip, startHaproxy, type TestHaproxy } from '../helpers/haproxy.js';
import { inferRequest } from '../helpers/heldout.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis-server.js';
import { postJson, rawRequest } from '../helpers/vigil-harness.js';
import { spawnVigil, type VigilProcess } from '../helpers/vigil-process.js';

const REPLICAS = 3;
const QUOTA = 30;

const policy = `
version: 1
roles:
  analyst: the demo models
  counted: a caller with a small request quota
grants:
  - id: demo-models
    roles: [analyst, counted]
    actions: [infer, metadata]
    models: [digits, mnist]
limits:
  on_store_failure: fail_closed
  roles:
    analyst: { requests_per_minute: 100000, concurrency: 256 }
    counted: { requests_per_minute: ${QUOTA}, concurrency: 256 }
detectors:
  structural: { action: quarantine }
  quarantine_seconds: 60
`;

describe('replicas behind a load balancer, sharing Redis', { skip: redisSkip || haproxySkip }, () => {
  let redis: TestRedis;
  let lb: TestHaproxy;
  const replicas: VigilProcess[] = [];
  let stateDir: string;
  const auth = async (roles: string[], sub: string) => ({ authorization: `Bearer ${await mintDevToken(await loadOrCreateDevKey(stateDir), { sub, roles, ttlSeconds: 600 })}` });
  let auditDir: string;
  // One query over the directory holding every replica's chain; each record names its replica.
  const records = async (filter: (r: StoredAuditRecord) => boolean) => {
    const out: { replica: string | undefined; rec: StoredAuditRecord }[] = [];
    for await (const rec of queryAudit(auditDir)) if (filter(rec)) out.push({ replica: rec.replica, rec });
    return out;
  };

  before(async () => {
    redis = await startRedis();
    const dir = await mkdtemp(join(tmpdir(), 'vigil-replicas-'));
    stateDir = join(dir, 'state');
    auditDir = join(dir, 'audit');
    await writeFile(join(dir, 'policy.yaml'), policy);
    const store = `{ kind: redis, url: "${redis.url}", command_timeout_ms: 300 }`;
    await writeFile(
      join(dir, 'vigil.yaml'),
      [
        'server: { host: 127.0.0.1 }',
        'admin: { host: 127.0.0.1 }',
        `models: { repository: ${JSON.stringify(resolve('models'))} }`,
        'auth:',
        '  dev_mode: true',
        `  failures: { store: ${store} }`,
        `policy: { file: ${JSON.stringify(join(dir, 'policy.yaml'))}, watch: false }`,
        `limits: { store: ${store} }`,
        `screening: { store: ${store} }`,
        '',
      ].join('\n'),
    );
    // One after another: the first makes the development signing key the others then share.
    // Each its own audit chain, in auditDir/<replica id>/.
    for (let i = 0; i < REPLICAS; i++) {
      replicas.push(await spawnVigil({ VIGIL_CONFIG: join(dir, 'vigil.yaml'), VIGIL_STATE_DIR: stateDir, VIGIL_AUDIT_DIR: auditDir, VIGIL_REPLICA_ID: `r${i + 1}` }));
    }
    lb = await startHaproxy(replicas.map((r) => r.port));
  });

  after(async () => {
    await lb?.stop();
    await Promise.all(
      replicas.map(async (r) => {
        r.child.kill('SIGTERM');
        await r.exited;
      }),
    );
    await redis?.stop();
  });

  test(`a quota of ${QUOTA} a minute is exact across replicas: of 90 concurrent requests, ${QUOTA} pass`, async () => {
    const headers = await auth(['counted'], 'counted-caller');
    const results = await Promise.all(Array.from({ length: 90 }, () => rawRequest(lb.port, 'GET', '/v2/models/digits', { headers })));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, QUOTA, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 429).length, 90 - QUOTA);
    const served = await records((r) => r.type === 'request' && r.principal.endsWith(':counted-caller'));
    assert.equal(new Set(served.map((s) => s.replica)).size, REPLICAS, 'the load balancer spread them over every replica');
  });

  test('a caller quarantined through one replica is refused by all', async () => {
    const headers = await auth(['analyst'], 'quarantined-caller');
    const bad = inferRequest('digits', [0]);
    (bad.inputs[0].data as number[])[0] = 1e6; // far outside the declared range: structural → quarantine
    const first = await postJson(lb.port, '/v2/models/digits/infer', bad, headers);
    assert.equal(first.status, 403);
    assert.equal(first.json.code, 'PRINCIPAL_QUARANTINED');
    const next = await Promise.all(Array.from({ length: REPLICAS * 2 }, () => postJson(lb.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers)));
    assert.deepEqual(next.map((r) => r.json.code), Array(REPLICAS * 2).fill('PRINCIPAL_QUARANTINED'));
    const refused = await records((r) => r.type === 'request' && r.principal.endsWith(':quarantined-caller') && r.code === 'PRINCIPAL_QUARANTINED');
    assert.equal(new Set(refused.map((s) => s.replica)).size, REPLICAS, 'every replica refused it');
  });

  test('an extraction attacker spreading its queries over replicas is flagged as if on one', async () => {
    const headers = await auth(['analyst'], 'spreading-caller');
    // One digit plus a little noise again and again, 4 rows a request: 24 queries, 8 per replica.
    // Each replica alone would hold fewer than the 20 the near-duplicate signal needs; shared, 24.
    for (let i = 0; i < 6; i++) {
      const probe = inferRequest('mnist', [7, 7, 7, 7]);
      probe.inputs[0].data = (probe.inputs[0].data as number[]).map((v) => Math.min(1, Math.max(0, v + (Math.random() - 0.5) * 0.02)));
      const r = await postJson(lb.port, '/v2/models/mnist/infer', probe, headers);
      assert.equal(r.status, 200);
    }
    const mine = await records((r) => r.type === 'request' && r.principal.endsWith(':spreading-caller'));
    assert.equal(new Set(mine.map((s) => s.replica)).size, REPLICAS, 'its queries went to every replica');
    const flagged = mine.filter(({ rec }) => rec.type === 'request' && rec.findings?.some((f) => f.detector === 'extraction' && f.signal === 'near_duplicate' && f.verdict === 'anomalous'));
    assert.ok(flagged.length > 0, `near_duplicate fired on the shared history: ${JSON.stringify(mine.map((m) => m.rec.type === 'request' && m.rec.findings))}`);
  });

  test('Redis killed mid-load: every replica fails closed within its timeout, and all serve again when it is back', async () => {
    const headers = await auth(['analyst'], 'outage-caller');
    const infer = () => postJson(lb.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers);
    assert.equal((await infer()).status, 200);
    await redis.kill();
    const during = await Promise.all(Array.from({ length: REPLICAS * 2 }, infer));
    assert.deepEqual(
      during.map((r) => r.status),
      Array(REPLICAS * 2).fill(503),
    );
    assert.ok(during.every((r) => ['STORE_UNAVAILABLE', 'LIMITER_UNAVAILABLE'].includes(r.json.code as string)), JSON.stringify(during.map((r) => r.json.code)));
    await redis.restart();
    let ok = 0;
    for (let i = 0; i < 100 && ok < REPLICAS * 2; i++) {
      ok = (await infer()).status === 200 ? ok + 1 : 0;
      if (ok === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(ok, REPLICAS * 2, 'every replica serves again');
  });

  test('each replica writes its own chain, named in its records; verify and query take the directory of all of them', async () => {
    const all = await records(() => true);
    assert.deepEqual([...new Set(all.map((r) => r.replica))].sort(), ['r1', 'r2', 'r3']);
    for (const id of ['r1', 'r2', 'r3']) {
      const seqs = all.filter((r) => r.replica === id).map((r) => r.rec.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${id}'s records in its chain order`);
    }
    const switches = all.filter((r, i) => i > 0 && r.replica !== all[i - 1].replica).length;
    assert.ok(switches > 10, `one stream interleaving the replicas by time (${switches} switches)`);
    const verify = spawnSync(process.execPath, ['bin/vigil.js', 'audit', 'verify', auditDir, '--json'], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr + verify.stdout);
    const report = JSON.parse(verify.stdout) as { ok: boolean; replicas: { replica: string; ok: boolean; records: number }[] };
    assert.deepEqual(report.replicas.map((r) => [r.replica, r.ok]), [['r1', true], ['r2', true], ['r3', true]]);
    assert.equal(report.replicas.reduce((n, r) => n + r.records, 0), all.length);
  });
});
