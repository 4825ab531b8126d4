import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { AuditFinding } from '../../gateway/src/audit/audit-record.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { signatureOf } from '../../serving/src/model-config.js';
import { BackendError } from '../../serving/src/backend.js';
import { RemoteOipBackend } from '../../serving/src/remote/remote-backend.js';
import { remoteBackendConfig } from '../../serving/src/remote/remote-config.js';
import { adversarialDigit } from '../helpers/adversarial.js';
import { loadHeldout } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { spawnPoolServe, type PoolServeProcess } from '../helpers/pool-serve-process.js';
import { fixedSqueezers, poolServeRepository, remoteRepository } from '../helpers/remote-models.js';
import { makeTestPki, opensslSkip, type TestPki } from '../helpers/test-pki.js';
import { editedRepository, postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

// Two real vigil processes apart: `vigil pool serve` runs the models behind mutual TLS, and a
// gateway whose model.yaml names it as `backend: oip-http` serves clients; a local gateway with
// the same models is the yardstick.

const mnist = loadHeldout('mnist');
const digits = loadHeldout('digits');
const row = (data: number[], features: number) => ({ inputs: [{ name: 'input', shape: [1, features], datatype: 'FP32', data }] });

const policy = `
version: 1
roles: { analyst: demo }
grants:
  - { id: analyst-all, roles: [analyst], actions: [infer, metadata], models: ['*'] }
limits:
  roles: { analyst: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 } }
detectors:
  profile: { action: flag }
  squeeze: { action: flag }
`;

describe('vigil pool serve as a remote backend, with mutual TLS', { skip: opensslSkip }, () => {
  let pki: TestPki;
  let poolRepo: Awaited<ReturnType<typeof poolServeRepository>>;
  let gatewayRepo: Awaited<ReturnType<typeof remoteRepository>>;
  let localRepo: Awaited<ReturnType<typeof editedRepository>>;
  const pools = new Map<string, PoolServeProcess>();
  let remote: TestVigil;
  let local: TestVigil;
  let headers: Record<string, string>;
  let localHeaders: Record<string, string>;

  const serve = (model: string, port = 0) =>
    spawnPoolServe(['--model', model, '--listen', `127.0.0.1:${port}`, '--health-listen', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--client-ca', pki.ca], { VIGIL_MODEL_REPOSITORY: poolRepo.dir });
  const backendFor = (port: number) => ({
    kind: 'oip-http',
    url: `https://localhost:${port}`,
    timeout_ms: 3000,
    health: { interval_ms: 150, timeout_ms: 500, unhealthy_after: 2 },
    circuit: { failures: 3, open_ms: 500 },
    tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
  });

  before(async () => {
    pki = await makeTestPki();
    poolRepo = await poolServeRepository();
    const [d, m] = await Promise.all([serve('digits'), serve('mnist')]);
    pools.set('digits', d).set('mnist', m);
    // Both gateways squeeze with fixed squeezers, so the same row must get the same score from each.
    gatewayRepo = await remoteRepository({ digits: backendFor(d.port), mnist: backendFor(m.port) }, fixedSqueezers);
    localRepo = await editedRepository(fixedSqueezers);
    const file = await writePolicy(policy);
    [remote, local] = await Promise.all([startTestVigil({ models: { repository: gatewayRepo.dir }, policy: { file } }), startTestVigil({ models: { repository: localRepo.dir }, policy: { file } })]);
    headers = await remote.auth(['analyst'], 'alice');
    localHeaders = await local.auth(['analyst'], 'alice');
  });
  after(async () => {
    await Promise.all([remote?.stop(), local?.stop(), ...[...pools.values()].map((p) => p.stop())]);
    await Promise.all([poolRepo?.cleanup(), gatewayRepo?.cleanup(), localRepo?.cleanup()]);
  });

  test('a model served by a pool on another "host" answers as a local pool does', async () => {
    const body = row(digits.inputs[5], 64);
    const [a, b] = await Promise.all([postJson(remote.port, '/v2/models/digits/infer', body, headers), postJson(local.port, '/v2/models/digits/infer', body, localHeaders)]);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.model_name, 'digits');
    assert.deepEqual(a.json.outputs, b.json.outputs);
  });

  test('feature squeezing runs for a remote model (squeezed copies sent as extra rows): the same scores and verdicts as the local pool', async () => {
    const cases = { clean: mnist.inputs[1000], fgsm: adversarialDigit(0.1) };
    for (const [name, data] of Object.entries(cases)) {
      const [a, b] = await Promise.all([
        postJson(remote.port, '/v2/models/mnist/infer', row(data, 784), { ...headers, 'x-request-id': name }),
        postJson(local.port, '/v2/models/mnist/infer', row(data, 784), { ...localHeaders, 'x-request-id': name }),
      ]);
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json.outputs[0].shape[0], 1, 'only the client\'s row comes back');
      assert.deepEqual(a.json.outputs, b.json.outputs);
      const [fa, fb] = [await squeezeFinding(remote, name), await squeezeFinding(local, name)];
      assert.ok(fa, `a squeeze finding for ${name}`);
      assert.deepEqual([fa.score, fa.verdict, fa.signal], [fb!.score, fb!.verdict, fb!.signal]);
      assert.equal(fa.verdict, name === 'fgsm' ? 'anomalous' : 'clean');
    }
  });

  test('the pool server lets in only client certificates its CA signed', async () => {
    const port = pools.get('digits')!.port;
    const ask = (tls: { cert?: string; key?: string }) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/v2/health/ready', servername: 'localhost', ca: readFileSync(pki.ca), cert: tls.cert && readFileSync(tls.cert), key: tls.key && readFileSync(tls.key), agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    assert.equal(await ask({ cert: pki.clientCert, key: pki.clientKey }), 200);
    await assert.rejects(ask({ cert: pki.rogueClientCert, key: pki.rogueClientKey }), 'a certificate from another CA is refused');
    await assert.rejects(ask({}), 'no certificate is refused');
  });

  test('the probes\' port answers health in plain HTTP and nothing else: no inference without a client certificate', async () => {
    const healthPort = pools.get('mnist')!.healthPort!;
    assert.equal((await rawRequest(healthPort, 'GET', '/v2/health/ready')).status, 200);
    assert.equal((await rawRequest(healthPort, 'GET', '/v2/health/live')).status, 200);
    const infer = await postJson(healthPort, '/v2/models/mnist/infer', row(mnist.inputs[0], 784));
    assert.equal(infer.status, 404);
    assert.equal(infer.json.code, 'ROUTE_NOT_FOUND');
  });

  test('sockets that never handshake, or idle on the health port, are closed in seconds, so they cannot hold the connection slots', async () => {
    const silent = (port: number) =>
      new Promise<number>((resolve, reject) => {
        const started = Date.now();
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(Date.now() - started));
        setTimeout(() => {
          socket.destroy();
          reject(new Error(`a silent socket on port ${port} was still open after 15 s`));
        }, 15_000).unref();
      });
    const closedAfter = await Promise.all([silent(pools.get('mnist')!.port), silent(pools.get('mnist')!.healthPort!)]);
    for (const ms of closedAfter) assert.ok(ms < 15_000);
  });

  test('a gateway holding a certificate the pool does not trust never reaches it: BACKEND_UNAVAILABLE', async () => {
    const port = pools.get('digits')!.port;
    const config = remoteBackendConfig.parse({ ...backendFor(port), tls: { ca: pki.ca, cert: pki.rogueClientCert, key: pki.rogueClientKey } });
    const sig = signatureOf(local.registry.resolve('digits', '1').config);
    const tls = { ca: readFileSync(pki.ca), cert: readFileSync(pki.rogueClientCert), key: readFileSync(pki.rogueClientKey) };
    const backend = new RemoteOipBackend(config, { model: 'digits', version: '1', signature: sig, maxQueue: 8, requestTimeoutMs: 5000 }, tls);
    try {
      await backend.start();
      assert.equal(backend.status, 'unavailable');
      await assert.rejects(
        backend.infer({ model: 'digits', version: '1', body: Buffer.from(JSON.stringify(row(digits.inputs[0], 64))), contentType: 'application/json', requestId: 'r', trace: {} }, new AbortController().signal),
        (err: unknown) => err instanceof BackendError && err.kind === 'down',
      );
    } finally {
      await backend.close();
    }
  });

  test('a pool server killed mid-service: 503 BACKEND_UNAVAILABLE with Retry-After at once, and served again once it is back on its port', async () => {
    const old = pools.get('digits')!;
    await old.kill();
    const r = await postJson(remote.port, '/v2/models/digits/infer', row(digits.inputs[1], 64), headers);
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.code, 'BACKEND_UNAVAILABLE');
    assert.ok(Number(r.headers['retry-after']) >= 1);
    await waitFor('digits reported not ready', async () => (await rawRequest(remote.port, 'GET', '/v2/models/digits/ready', { headers })).status === 503);
    assert.equal((await rawRequest(remote.port, 'GET', '/v2/models/mnist/ready', { headers })).status, 200, 'the other remote model is untouched');
    pools.set('digits', await serve('digits', old.port));
    await waitFor('digits ready again', async () => (await rawRequest(remote.port, 'GET', '/v2/models/digits/ready', { headers })).status === 200, 15_000, 100);
    const again = await postJson(remote.port, '/v2/models/digits/infer', row(digits.inputs[1], 64), headers);
    assert.equal(again.status, 200, again.text);
  });

  test('a body over server.max_body_bytes is refused with 413 before it is read, and the pool serves on', async () => {
    const port = pools.get('digits')!.port;
    const big = (length: number) =>
      new Promise<{ status: number; code?: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: '/v2/models/digits/versions/1/infer', servername: 'localhost', ca: readFileSync(pki.ca), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey), agent: false, headers: { 'content-type': 'application/json', 'content-length': length } },
          (res) => {
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { code?: string }).code }));
          },
        );
        req.on('error', reject);
        req.write('{"inputs":[');
        req.end();
      });
    assert.deepEqual(await big(64 * 1024 * 1024), { status: 413, code: 'BODY_TOO_LARGE' });
    const ok = await postJson(remote.port, '/v2/models/digits/infer', row(digits.inputs[2], 64), headers);
    assert.equal(ok.status, 200, ok.text);
  });

  test('pool serve refuses to start without the TLS files unless told --plaintext', async () => {
    await assert.rejects(spawnPoolServe(['--model', 'digits', '--listen', '127.0.0.1:0'], { VIGIL_MODEL_REPOSITORY: poolRepo.dir }), /exited \(2\)/);
  });
});

async function squeezeFinding(vigil: TestVigil, id: string): Promise<AuditFinding | undefined> {
  for await (const r of queryAudit(vigil.config.audit.dir)) {
    if (r.type === 'request' && r.client_request_id === id) return r.findings?.find((f) => f.detector === 'squeeze');
  }
  return undefined;
}


