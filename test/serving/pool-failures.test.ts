import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256OfBytes } from '../../serving/src/file-digest.js';
import { inferRequest } from '../helpers/heldout.js';
import { copyOfModels, postJson as postAnon, rawRequest as rawAnon, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { isAlive, waitFor } from '../helpers/wait-for.js';

// Every request in this file is an admin's: what is under test is the pools, not the policy.
let headers: Record<string, string> = {};
const postJson = (port: number, path: string, body: unknown) => postAnon(port, path, body, headers);
const rawRequest = (port: number, method: string, path: string) => rawAnon(port, method, path, { headers });
async function start(overrides: Parameters<typeof startTestVigil>[0]): Promise<TestVigil> {
  const vigil = await startTestVigil(overrides);
  headers = await vigil.auth(['admin'], 'ops');
  return vigil;
}

function workerPid(vigil: TestVigil, model: string): number {
  const served = vigil.registry.resolve(model, undefined);
  assert.equal(served.status, 'serving');
  const pid = served.pool!.workers[0].pid;
  assert.ok(pid, `${model} has a live worker`);
  return pid;
}

describe('a pool worker killed with SIGKILL', () => {
  let vigil: TestVigil;
  before(async () => {
    // A long first backoff makes the outage observable; production uses 250 ms.
    vigil = await start({ pools: { restart: { initial_backoff_ms: 1_500 } } });
  });
  after(() => vigil.stop());

  test('fails its in-flight request at once with 503 + Retry-After, restarts, and other models never notice', async () => {
    const pid = workerPid(vigil, 'mnist');
    // Freeze the worker so a request is certainly in flight inside it when it dies.
    process.kill(pid, 'SIGSTOP');
    const inflight = postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]));
    await waitFor('the request to reach the worker', () => vigil.registry.resolve('mnist', undefined).status === 'serving' && (vigil.registry.resolve('mnist', undefined) as { pool: { workers: { inflight: number }[] } }).pool.workers[0].inflight === 1);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const failed = await inflight;
    assert.ok(Date.now() - killedAt < 1_000, 'the in-flight request failed at once, not after a timeout');
    assert.equal(failed.status, 503);
    assert.equal(failed.json.code, 'POOL_RESTARTING');
    assert.ok(Number(failed.headers['retry-after']) >= 1);

    // While it is down: its model is not ready and says when to retry; the other model serves.
    await waitFor('mnist to be marked down', async () => (await rawRequest(vigil.port, 'GET', '/v2/models/mnist/ready')).status === 503);
    const during = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]));
    assert.equal(during.status, 503);
    assert.equal(during.json.code, 'POOL_RESTARTING');
    assert.ok(Number(during.headers['retry-after']) >= 1);
    const other = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]));
    assert.equal(other.status, 200);
    // One model down does not make the gateway unready: per-model readiness says it.
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/ready')).status, 200);

    // It comes back by itself within a few seconds, as a new process.
    await waitFor('mnist to serve again', async () => (await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]))).status === 200, 5_000);
    assert.ok(Date.now() - killedAt < 5_000);
    assert.notEqual(workerPid(vigil, 'mnist'), pid);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/mnist/ready')).status, 200);
    const status = await rawRequest(vigil.adminPort, 'GET', '/status');
    const mnist = status.json.models.find((m: { model: string }) => m.model === 'mnist');
    assert.equal(mnist.workers[0].restarts, 1);
    assert.equal(mnist.workers[0].reason, 'killed by SIGKILL');
  });
});

describe('a hung pool worker', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await start({ pools: { health: { interval_ms: 100, timeout_ms: 300, failures_before_replace: 3 } } });
  });
  after(() => vigil.stop());

  test('is detected by its health probes, killed and replaced', async () => {
    const pid = workerPid(vigil, 'digits');
    process.kill(pid, 'SIGSTOP'); // alive but answering nothing: a hang
    const stuck = postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]));
    await waitFor('the hung worker to be killed', () => !isAlive(pid), 5_000);
    const r = await stuck;
    assert.equal(r.status, 503, 'the request stuck in the hung worker fails instead of waiting for the request timeout');
    assert.equal(r.json.code, 'POOL_RESTARTING');
    await waitFor('digits to serve again', async () => (await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]))).status === 200, 5_000);
    assert.notEqual(workerPid(vigil, 'digits'), pid);
  });
});

describe('a pool worker that keeps crashing', () => {
  let vigil: TestVigil;
  let cleanup: () => Promise<void>;
  before(async () => {
    const copy = await copyOfModels();
    cleanup = copy.cleanup;
    // A model file that passes its (updated) digest but that ONNX Runtime cannot load:
    // the worker dies at every start.
    const dir = join(copy.dir, 'mnist', '1');
    const broken = Buffer.from('this is not an ONNX graph');
    await writeFile(join(dir, 'model.onnx'), broken);
    const yaml = await readFile(join(dir, 'model.yaml'), 'utf8');
    await writeFile(join(dir, 'model.yaml'), yaml.replace(/digest: sha256:[0-9a-f]{64}/, `digest: ${sha256OfBytes(broken)}`));
    vigil = await start({
      models: { repository: copy.dir },
      pools: { restart: { initial_backoff_ms: 20, max_backoff_ms: 100, max_restarts: 3, window_ms: 30_000 } },
    });
  });
  after(async () => {
    await vigil.stop();
    await cleanup();
  });

  test('is quarantined with a clear status instead of restarting forever', async () => {
    const served = vigil.registry.resolve('mnist', undefined);
    assert.equal(served.status, 'serving');
    await waitFor('quarantine', () => served.pool!.status === 'quarantined', 10_000);
    assert.equal(served.pool!.workers[0].restarts, 3);
    const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]));
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 'POOL_QUARANTINED');
    const status = await rawRequest(vigil.adminPort, 'GET', '/status');
    const mnist = status.json.models.find((m: { model: string }) => m.model === 'mnist');
    assert.equal(mnist.status, 'quarantined');
    assert.match(mnist.workers[0].reason, /crashed 4 times/);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/mnist/ready')).status, 503);
    // ... and nothing else is disturbed.
    assert.equal((await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]))).status, 200);
    const restartsBefore = served.pool!.workers[0].restarts;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(served.pool!.workers[0].restarts, restartsBefore, 'no more restarts once quarantined');
  });
});
