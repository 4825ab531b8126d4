// Live changes without a restart (issue 17, item 2): Triton's repository extension on the admin
// port and `vigil models load|unload|promote|rollback`. A load is all or nothing, a bad version
// never replaces a good one, and a request finishes on the version it started on.
import assert from 'node:assert/strict';
import { appendFile, cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { verifyAudit } from '../../gateway/src/audit/verify.js';
import type { AuditRecord } from '../../gateway/src/audit/audit-record.js';
import type { ServingVersion } from '../../gateway/src/model-registry.js';
import { inferRequest, loadHeldout } from '../helpers/heldout.js';
import { copyVersion, wrongVersion } from '../helpers/model-versions.js';
import { runVigil } from '../helpers/run-node.js';
import { copyOfModels, postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function adminRecords(dir: string, action: string): Promise<Extract<AuditRecord, { type: 'admin' }>[]> {
  const out = [];
  for await (const r of queryAudit(dir, { type: 'admin', action })) if (r.type === 'admin') out.push(r);
  return out;
}

describe('the repository extension on the admin port', () => {
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  let vigil: TestVigil;
  let admin: Record<string, string>;
  let analyst: Record<string, string>;
  const h = loadHeldout('mnist');
  const label = (r: { json: { outputs: { name: string; data: number[] }[] } }) => r.json.outputs.find((o) => o.name === 'label')!.data[0];
  before(async () => {
    repo = await copyOfModels();
    // A frozen worker must not be replaced while a test holds a request on it; a retired pool is
    // killed 0.5 s after SIGTERM, so only waiting for its requests keeps one alive longer.
    vigil = await startTestVigil({ models: { repository: repo.dir }, server: { request_timeout_ms: 60_000 }, pools: { health: { interval_ms: 60_000 }, stop_grace_ms: 500 } });
    admin = await vigil.auth(['admin'], 'ops');
    analyst = await vigil.auth(['analyst'], 'ana');
  });
  after(async () => {
    await vigil?.stop();
    await repo?.cleanup();
  });
  const load = (model: string, body?: unknown, headers = admin) => rawRequest(vigil.adminPort, 'POST', `/v2/repository/models/${model}/load`, { headers: { ...headers, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  test('a version added to the repository is served after a load, with its traffic.yaml; the version already serving keeps its pool', async () => {
    const v1 = vigil.registry.resolve('mnist', '1');
    const v1Pid = v1.pool!.workers[0].pid;
    await copyVersion(repo.dir, 'mnist', '1', '2');
    await writeFile(join(repo.dir, 'mnist', 'traffic.yaml'), '# the canary\nsplit: { "1": 90, "2": 10 }\n');
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/versions/2/infer', inferRequest('mnist', [40]), analyst)).status, 404, 'not before the load');
    const r = await load('mnist');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.versions.map((v: { version: string; state: string }) => [v.version, v.state]), [['2', 'loaded'], ['1', 'kept']]);
    assert.deepEqual(r.json.traffic.split, { '1': 90, '2': 10 });
    const two = await postJson(vigil.port, '/v2/models/mnist/versions/2/infer', inferRequest('mnist', [40]), analyst);
    assert.equal(two.status, 200, two.text);
    assert.equal(label(two), h.labels[40]);
    assert.equal(vigil.registry.resolve('mnist', '1'), v1, 'the same version object');
    assert.equal(vigil.registry.resolve('mnist', '1').pool!.workers[0].pid, v1Pid, 'v1 was not restarted');
    const [rec] = (await adminRecords(vigil.config.audit.dir, 'models.load')).filter((x) => x.outcome === 'ok');
    assert.equal(rec.principal, 'user:ops');
    assert.deepEqual(rec.detail.split, { '1': 90, '2': 10 });
    const index = await rawRequest(vigil.adminPort, 'GET', '/v2/repository/index', { headers: admin });
    assert.deepEqual(index.json.filter((x: { name: string }) => x.name === 'mnist').map((x: { version: string; state: string }) => [x.version, x.state]), [['2', 'READY'], ['1', 'READY']]);
  });

  test('a version whose model.onnx does not match its digest refuses the whole load: nothing changes, audited', async () => {
    await copyVersion(repo.dir, 'mnist', '1', '3');
    await appendFile(join(repo.dir, 'mnist', '3', 'model.onnx'), Buffer.from([0]));
    const r = await load('mnist');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'MODEL_LOAD_FAILED');
    assert.match(r.json.error, /version 3: digest mismatch/);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/versions/3/infer', inferRequest('mnist', [40]), analyst)).status, 404);
    for (const v of ['1', '2']) assert.equal((await postJson(vigil.port, `/v2/models/mnist/versions/${v}/infer`, inferRequest('mnist', [41]), analyst)).status, 200);
    assert.deepEqual(vigil.registry.trafficOf('mnist')?.split, { '1': 90, '2': 10 });
    const failed = (await adminRecords(vigil.config.audit.dir, 'models.load')).filter((x) => x.outcome === 'failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].detail.code, 'MODEL_LOAD_FAILED');
    const metrics = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    const count = (outcome: string) => Number(new RegExp(`vigil_model_changes_total\\{(?=[^}]*change="load")(?=[^}]*model="mnist")(?=[^}]*outcome="${outcome}")[^}]*\\} (\\d+)`).exec(metrics)?.[1]);
    assert.deepEqual([count('ok'), count('failed')], [1, 1], 'counted for VigilModelLoadFailed');
    await cp(join(repo.dir, 'mnist', '1', 'model.onnx'), join(repo.dir, 'mnist', '3', 'model.onnx'));
  });

  test('a version whose file changed is started anew beside the old one, which stops once its requests are done', async () => {
    const old2 = vigil.registry.resolve('mnist', '2');
    const oldPid = old2.pool!.workers[0].pid!;
    await wrongVersion(repo.dir, 'mnist', '1', '2');
    // Loads at once are taken one after another: the same outcome, no pool left behind.
    const loads = await Promise.all([load('mnist'), load('mnist'), load('mnist')]);
    assert.deepEqual(loads.map((x) => x.status), [200, 200, 200], loads.map((x) => x.text).join('\n'));
    assert.deepEqual(loads[0].json.versions.map((v: { version: string; state: string }) => [v.version, v.state]), [['3', 'loaded'], ['2', 'loaded'], ['1', 'kept']]);
    assert.deepEqual(loads[2].json.versions.map((v: { state: string }) => v.state), ['kept', 'kept', 'kept']);
    const two = await postJson(vigil.port, '/v2/models/mnist/versions/2/infer', inferRequest('mnist', [40]), analyst);
    assert.equal(label(two), (h.labels[40] + 9) % 10, 'the new artifact answers');
    await waitFor('the old pool of version 2 stopped', async () => !alive(oldPid), 20_000);
    assert.equal(vigil.supervisor.allPools().filter((p) => p.key === 'mnist/2').length, 1);
  });

  test('unload while a request is on the version: it finishes there; new requests are refused; a load brings the model back', async () => {
    const v1 = vigil.registry.resolve('mnist', '1');
    const pid = v1.pool!.workers[0].pid!;
    process.kill(pid, 'SIGSTOP');
    let pending;
    try {
      pending = postJson(vigil.port, '/v2/models/mnist/versions/1/infer', inferRequest('mnist', [42]), analyst);
      await waitFor('the request on the frozen worker', async () => v1.backend.load().inflight > 0, 10_000);
      const r = await rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/mnist/unload', { headers: admin });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.unloaded.sort(), ['1', '2', '3']);
      const refused = await postJson(vigil.port, '/v2/models/mnist/versions/1/infer', inferRequest('mnist', [40]), analyst);
      assert.equal(refused.status, 503);
      assert.equal(refused.json.code, 'MODEL_UNAVAILABLE');
      assert.match(refused.json.error, /unloaded by an operator/);
      await new Promise((r) => setTimeout(r, 1_500));
      assert.ok(alive(pid), 'the worker waits for its request');
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGCONT');
    }
    const answered = await pending;
    assert.equal(answered.status, 200, answered.text);
    assert.equal(answered.json.model_version, '1');
    assert.equal(label(answered), h.labels[42]);
    await waitFor('the unloaded pool stopped', async () => !alive(pid), 20_000);
    const back = await load('mnist');
    assert.equal(back.status, 200, back.text);
    assert.deepEqual(back.json.versions.map((v: { state: string }) => v.state), ['loaded', 'loaded', 'loaded']);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/versions/1/infer', inferRequest('mnist', [40]), analyst)).status, 200);
  });

  test('promote and rollback change the split at once and write it to traffic.yaml, comments kept', async () => {
    const promoted = await rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/mnist/promote', { headers: { ...admin, 'content-type': 'application/json' }, body: '{"version": "3"}' });
    assert.equal(promoted.status, 200, promoted.text);
    assert.deepEqual(promoted.json.split, { '1': 0, '2': 0, '3': 100 });
    assert.equal(promoted.json.persisted, true);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), analyst)).json.model_version, '3');
    const file = await readFile(join(repo.dir, 'mnist', 'traffic.yaml'), 'utf8');
    assert.match(file, /# the canary/);
    // The CLI, as an operator runs it.
    const ran = await runVigil(['models', 'rollback', 'mnist', '--to', '1', '--admin-url', `http://127.0.0.1:${vigil.adminPort}`, '--token', admin.authorization.slice('Bearer '.length)]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /mnist split now 1: 100%, 2: 0%, 3: 0%/);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), analyst)).json.model_version, '1');
    const records = await adminRecords(vigil.config.audit.dir, 'models.rollback');
    assert.deepEqual(records.at(-1)?.detail.split_before, { '1': 0, '2': 0, '3': 100 });
    // A later load reads what was written.
    const again = await load('mnist');
    assert.deepEqual(again.json.traffic.split, { '1': 100, '2': 0, '3': 0 });
    const none = await rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/digits/rollback', { headers: admin });
    assert.equal(none.status, 409);
    assert.equal(none.json.code, 'NOTHING_TO_ROLL_BACK');
    const refusedRollback = (await adminRecords(vigil.config.audit.dir, 'models.rollback')).find((r) => r.outcome === 'failed');
    assert.deepEqual([refusedRollback?.detail.model, refusedRollback?.detail.code], ['digits', 'NOTHING_TO_ROLL_BACK'], 'refusals are audited too');
  });

  test('refusals: an analyst (403, audited), load parameters, unknown models, names that leave the repository, bad bodies', async () => {
    const forbidden = await load('mnist', undefined, analyst);
    assert.equal(forbidden.status, 403);
    const denied = (await adminRecords(vigil.config.audit.dir, 'admin:models')).filter((x) => x.principal === 'user:ana');
    assert.equal(denied.length, 1);
    assert.equal(denied[0].detail.model, 'mnist');
    const override = await load('mnist', { parameters: { config: '{"backend":"onnxruntime"}' } });
    assert.equal(override.status, 400);
    assert.equal(override.json.code, 'MODEL_LOAD_FAILED');
    assert.equal((await load('nosuchmodel')).json.code, 'MODEL_NOT_FOUND');
    for (const path of ['/v2/repository/models/..%2Fetc/load', '/v2/repository/models/.hidden/load']) {
      const r = await rawRequest(vigil.adminPort, 'POST', path, { headers: admin });
      assert.ok([400, 404].includes(r.status), `${path}: ${r.status}`);
      assert.ok(['INVALID_PATH', 'ROUTE_NOT_FOUND'].includes(r.json.code), r.text);
    }
    const notJson = await rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/mnist/promote', { headers: { ...admin, 'content-type': 'application/json' }, body: '{"version": ' });
    assert.equal(notJson.json.code, 'INVALID_JSON');
    const huge = await rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/mnist/promote', { headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ version: '1', pad: 'x'.repeat(10_000) }) });
    assert.equal(huge.json.code, 'BODY_TOO_LARGE');
    const notServed = await rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/mnist/promote', { headers: { ...admin, 'content-type': 'application/json' }, body: '{"version": "9"}' });
    assert.equal(notServed.json.code, 'MODEL_VERSION_NOT_FOUND');
    const verdict = await verifyAudit(vigil.config.audit.dir);
    assert.equal(verdict.ok, true, JSON.stringify(verdict.findings));
  });
});

describe('statistics of a version loaded anew', () => {
  test('requests that finish on the replaced artifact after the load are not the new one\'s record (the rollout guard reads it)', async () => {
    const { ModelStats } = await import('../../gateway/src/telemetry/model-stats.js');
    const stats = new ModelStats();
    const old = { model: 'mnist', version: '2', status: 'serving' } as unknown as ServingVersion;
    const fresh = { model: 'mnist', version: '2', status: 'serving' } as unknown as ServingVersion;
    const finished = (target: ServingVersion, status: number) =>
      stats.observe({ route: { action: 'model.infer' }, target, proxiedAt: 1n, startedAt: process.hrtime.bigint() - 2_000_000_000n } as unknown as Parameters<typeof stats.observe>[0], status);
    finished(old, 200);
    assert.equal(stats.countsOf('mnist', '2').requests, 1);
    stats.restart(fresh);
    finished(old, 500);
    finished(old, 200);
    stats.observeShadow(old, 0, 5);
    assert.deepEqual(stats.countsOf('mnist', '2'), { requests: 0, failures: 0, meanMs: 0, shadowRows: 0, shadowAgree: 0 });
    finished(fresh, 200);
    stats.observeShadow(fresh, 4, 5);
    const c = stats.countsOf('mnist', '2');
    assert.deepEqual([c.requests, c.failures, c.shadowRows, c.shadowAgree], [1, 0, 5, 4]);
  });
});

describe('a promote while a load is starting its pools', () => {
  test('the load is refused rather than undo the promote, and its new pool does not stay', async () => {
    const repo = await copyOfModels();
    // Version 4's workers take a second and a half to come up: the window the promote lands in.
    const slow = join(repo.dir, '..', `slow-worker-${process.pid}.mjs`);
    await writeFile(slow, `await new Promise((r) => setTimeout(r, 1500));\nawait import(${JSON.stringify(new URL('../../serving/src/worker/main.js', import.meta.url).href)});\n`);
    const vigil = await startTestVigil({ models: { repository: repo.dir } }, { workerMain: (_m, v) => (v === '4' ? slow : undefined) });
    try {
      const admin = { ...(await vigil.auth(['admin'], 'ops')), 'content-type': 'application/json' };
      await copyVersion(repo.dir, 'mnist', '1', '4');
      await writeFile(join(repo.dir, 'mnist', 'traffic.yaml'), 'split: { "1": 90, "4": 10 }\n');
      const loading = rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/mnist/load', { headers: admin });
      await waitFor('version 4\'s pool starting', async () => vigil.supervisor.allPools().some((p) => p.key === 'mnist/4'), 10_000, 20);
      const promoted = await rawRequest(vigil.adminPort, 'POST', '/v2/repository/models/mnist/promote', { headers: admin, body: '{"version": "1"}' });
      assert.equal(promoted.status, 200, promoted.text);
      const load = await loading;
      assert.equal(load.status, 400, load.text);
      assert.equal(load.json.code, 'MODEL_LOAD_FAILED');
      assert.match(load.json.error, /traffic of mnist changed while it loaded/);
      assert.deepEqual(vigil.registry.trafficOf('mnist')?.split, { '1': 100 });
      assert.equal((await postJson(vigil.port, '/v2/models/mnist/versions/4/infer', inferRequest('mnist', [40]), await vigil.auth())).status, 404);
      await waitFor('version 4\'s pool removed', async () => !vigil.supervisor.allPools().some((p) => p.key === 'mnist/4'), 10_000);
    } finally {
      await vigil.stop();
      await repo.cleanup();
      await rm(slow, { force: true });
    }
  });
});
