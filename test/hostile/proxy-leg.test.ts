// Hostile load on the pool leg (issue 11, items 1 and 2): many principals at once, and the
// Expect header that made http-proxy skip its own hook. Each case crashed or leaked before the
// pool leg was built by vigil itself (serving/src/backend.ts).
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { RecordingPoolLauncher } from '../helpers/recording-pool.js';
import { spawnVigil, type VigilProcess } from '../helpers/vigil-process.js';
import { rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

const DIGIT = [0, 0, 4, 13, 14, 16, 3, 0, 0, 0, 6, 11, 10, 16, 1, 0, 0, 0, 0, 0, 7, 14, 0, 0, 0, 0, 9, 16, 16, 16, 12, 0, 0, 0, 15, 13, 16, 7, 2, 0, 0, 0, 0, 8, 12, 0, 0, 0, 0, 0, 2, 14, 6, 0, 0, 0, 0, 0, 8, 13, 1, 0, 0, 0];
const BODY = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: DIGIT }], outputs: [{ name: 'label' }] });

function post(port: number, headers: Record<string, string>, agent: Agent): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/digits/infer', agent, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(-1));
    req.end(BODY);
  });
}

describe('hostile: many principals at once on the pool leg', () => {
  let vigil: VigilProcess;
  before(async () => {
    vigil = await spawnVigil();
  });
  after(async () => {
    vigil.child.kill('SIGTERM');
    await vigil.exited;
  });

  test('30 principals × 10 concurrent inferences (300 in flight): the gateway stays up and answers every one', async () => {
    const principals = await Promise.all(Array.from({ length: 30 }, (_, i) => vigil.auth(['analyst'], `load-${i}`)));
    const agent = new Agent({ keepAlive: true, maxSockets: 400 });
    let exitedEarly = false;
    void vigil.exited.then(() => (exitedEarly = true));
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(principals.flatMap((h) => Array.from({ length: 10 }, () => post(vigil.port, h, agent))));
      assert.equal(exitedEarly, false, 'the gateway process died under load');
      const counts: Record<string, number> = {};
      for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
      // Each principal is under its own concurrency cap (16), so every request is served.
      assert.deepEqual(counts, { 200: 300 }, `round ${round}: ${JSON.stringify(counts)}`);
    }
    agent.destroy();
    const live = await rawRequest(vigil.port, 'GET', '/v2/health/live');
    assert.equal(live.status, 200);
  });
});

describe('hostile: Expect: 100-continue on the pool leg', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({}, { launcher: new RecordingPoolLauncher() });
  });
  after(() => vigil.stop());

  test('the pool gets the validated body and only allowlisted headers, never credentials or expect', async () => {
    const auth = await vigil.auth();
    const r = await new Promise<{ status: number; json: any }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: vigil.port,
          method: 'POST',
          path: '/v2/models/digits/infer',
          agent: false,
          headers: { ...auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY), expect: '100-continue', cookie: 'session=secret' },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        },
      );
      req.on('continue', () => req.end(BODY));
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(Buffer.from(r.json.received, 'base64').toString('utf8'), BODY, 'the pool received exactly the validated body');
    for (const name of ['authorization', 'cookie', 'expect']) assert.equal(r.json.headers[name], undefined, `${name} reached the pool`);
    const allowed = new Set(['host', 'connection', 'content-length', 'content-type', 'x-request-id', 'traceparent', 'tracestate']);
    for (const name of Object.keys(r.json.headers)) assert.ok(allowed.has(name), `${name} is not on the pool leg's allowlist`);
  });
});
