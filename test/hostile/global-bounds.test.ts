// Global bounds across callers (issue 11, item 3): requests in flight, buffered body bytes, a
// pool's queue, and fields that are deep or huge. Before them, 100 principals × 4 MB bodies took
// the gateway and pools to 2.6 GB, a 100,000-deep datatype was a 500, and a 3.9 MB id passed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { auditRecords } from '../helpers/audit-records.js';
import { inferRequest } from '../helpers/heldout.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

/** Starts a request (headers and part of its body) and keeps its connection open. */
async function startUpload(port: number, headers: Record<string, string | number>, partial = ''): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${lines}\r\n${partial}`);
  return socket;
}

/** Everything the server sends on `socket` until it closes or `ms` pass. */
async function replyOn(socket: Socket, ms = 5_000): Promise<string> {
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, ms))]);
  return text;
}

function frozen(vigil: TestVigil, model: string): { pid: number; thaw: () => void } {
  const served = vigil.registry.resolve(model, undefined);
  assert.ok(served.status === 'serving');
  const pid = served.pool!.workers[0].pid!;
  process.kill(pid, 'SIGSTOP');
  return { pid, thaw: () => process.kill(pid, 'SIGCONT') };
}

describe('hostile: requests in flight and the pool queue are bounded across callers', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ server: { max_inflight_requests: 6 }, pools: { max_queue: 3 } });
  });
  after(() => vigil.stop());

  test("a full pool queue refuses at once (503 OVERLOADED, Retry-After) before the body is read; other models and probes still answer", async () => {
    const headers = await vigil.auth(['analyst'], 'queue-filler');
    const pool = frozen(vigil, 'digits');
    try {
      const held = [0, 1, 2].map(() => postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers));
      await waitFor('three requests queued on the frozen pool', () => {
        const served = vigil.registry.resolve('digits', undefined);
        return served.status === 'serving' && served.backend.load().inflight === 3;
      });
      // The refused request never sends its body: it asks first (Expect: 100-continue).
      const socket = await startUpload(vigil.port, { ...(await vigil.auth(['analyst'], 'other')), 'content-length': 4000, expect: '100-continue' });
      const reply = await replyOn(socket);
      assert.match(reply, /^HTTP\/1\.1 503 /);
      assert.doesNotMatch(reply, /100 Continue/, 'no upload may be invited');
      assert.match(reply, /retry-after: 1/i);
      assert.match(reply, /"code":"OVERLOADED"/);
      assert.match(reply, /pools\.max_queue/);
      const mnist = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), headers);
      assert.equal(mnist.status, 200, 'a full queue on one model must not touch another');
      assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/live')).status, 200);
      pool.thaw();
      assert.deepEqual((await Promise.all(held)).map((r) => r.status), [200, 200, 200]);
    } finally {
      pool.thaw();
    }
    const refused = (await auditRecords(vigil.config.audit.dir)).filter((r) => r.type === 'request' && r.code === 'OVERLOADED');
    assert.equal(refused.length, 1, 'the refusal is audited');
    assert.ok(refused[0].type === 'request' && refused[0].rule === 'bound:pool_queue');
  });

  test('past max_inflight_requests every caller gets 503 OVERLOADED; liveness still answers; all recovers', async () => {
    const pools = [frozen(vigil, 'digits'), frozen(vigil, 'mnist')];
    const held: Promise<{ status: number }>[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), await vigil.auth(['analyst'], `a${i}`)));
      for (let i = 0; i < 3; i++) held.push(postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), await vigil.auth(['analyst'], `b${i}`)));
      await waitFor('six requests in flight', () => vigil.registry.all().every((v) => v.status !== 'serving' || v.backend.load().inflight === 3));
      const refused = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [1]), await vigil.auth(['analyst'], 'late'));
      assert.equal(refused.status, 503);
      assert.equal(refused.json.code, 'OVERLOADED');
      assert.match(refused.json.error, /max_inflight_requests/);
      assert.equal(refused.headers['retry-after'], '1');
      const metadata = await rawRequest(vigil.port, 'GET', '/v2/models/mnist', { headers: await vigil.auth() });
      assert.equal(metadata.status, 503, 'the bound is global: metadata too');
      assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/live')).status, 200, 'liveness must not fail under load');
    } finally {
      for (const p of pools) p.thaw();
    }
    assert.deepEqual((await Promise.all(held)).map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    const again = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [1]), await vigil.auth(['analyst'], 'late'));
    assert.equal(again.status, 200);
  });
});

describe('hostile: buffered request bodies are bounded across callers', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ server: { max_body_bytes: 40_000, max_buffered_body_bytes: 60_000 } });
  });
  after(() => vigil.stop());

  test('a body that would not fit beside those being read is refused before it is sent; its room comes back', async () => {
    const slow = await startUpload(vigil.port, { ...(await vigil.auth(['analyst'], 'slow-1')), 'content-length': 39_000 }, '{"inputs":');
    await waitFor('the slow upload to hold its reservation', async () => {
      const r = await postJson(vigil.port, '/v2/models/digits/infer', 'x'.repeat(30_000), await vigil.auth(['analyst'], 'probe'));
      return r.status === 503 ? r : undefined;
    });
    const socket = await startUpload(vigil.port, { ...(await vigil.auth(['analyst'], 'second')), 'content-length': 30_000, expect: '100-continue' });
    const reply = await replyOn(socket);
    assert.match(reply, /^HTTP\/1\.1 503 /);
    assert.match(reply, /max_buffered_body_bytes/);
    assert.doesNotMatch(reply, /100 Continue/);
    slow.destroy(); // the slow client gives up: its reservation must be released
    const ok = await waitFor('room for a body again', async () => {
      const r = await postJson(vigil.port, '/v2/models/digits/infer', { ...inferRequest('digits', [0]), id: 'x'.repeat(100) }, await vigil.auth(['analyst'], 'after'));
      return r.status === 200 ? r : undefined;
    });
    assert.equal(ok.json.model_name, 'digits');
  });

  test('chunked bodies (no Content-Length) count against the bound as they arrive', async () => {
    const a = await startUpload(vigil.port, { ...(await vigil.auth(['analyst'], 'chunk-a')), 'transfer-encoding': 'chunked' });
    a.write(`${(35_000).toString(16)}\r\n${' '.repeat(35_000)}\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    const b = await startUpload(vigil.port, { ...(await vigil.auth(['analyst'], 'chunk-b')), 'transfer-encoding': 'chunked' });
    b.write(`${(30_000).toString(16)}\r\n${' '.repeat(30_000)}\r\n`);
    const reply = await replyOn(b);
    assert.match(reply, /^HTTP\/1\.1 503 /);
    assert.match(reply, /"code":"OVERLOADED"/);
    a.destroy();
  });
});

describe('hostile: deep and oversized fields', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil();
  });
  after(() => vigil.stop());

  const cases: [string, () => string, number, string][] = [
    ['a 100,000-deep datatype', () => `{"inputs":[{"name":"input","shape":[1,64],"datatype":${'['.repeat(100_000)}${']'.repeat(100_000)},"data":[]}]}`, 400, 'JSON_TOO_DEEP'],
    ['outputs[].parameters nested 40 deep', () => JSON.stringify({ ...inferRequest('digits', [0]), outputs: [{ name: 'label', parameters: { a: JSON.parse('{"b":'.repeat(40) + '1' + '}'.repeat(40)) } }] }), 400, 'JSON_TOO_DEEP'],
    ['a nested parameters value', () => JSON.stringify({ ...inferRequest('digits', [0]), parameters: { a: { b: 1 } } }), 400, 'INVALID_INFERENCE_REQUEST'],
    // digits accepts at most 64 × 64 elements: bodies are bounded at 256 KiB for it (see below).
    ['a 200 KB id', () => JSON.stringify({ ...inferRequest('digits', [0]), id: 'i'.repeat(200_000) }), 400, 'FIELD_TOO_LARGE'],
    ['a 200 KB unknown field', () => JSON.stringify({ ...inferRequest('digits', [0]), smuggled: 'x'.repeat(200_000) }), 400, 'INVALID_INFERENCE_REQUEST'],
    ['a 3.9 MB id', () => JSON.stringify({ ...inferRequest('digits', [0]), id: 'i'.repeat(3_900_000) }), 413, 'BODY_TOO_LARGE'],
    ['100,000 values where digits takes 4,096 at most', () => `{"inputs":[{"name":"input","shape":[64,64],"datatype":"FP32","data":[${new Array(100_000).fill(0).join(',')}]}]}`, 400, 'ELEMENT_COUNT_MISMATCH'],
    ['1,000 parameters', () => JSON.stringify({ ...inferRequest('digits', [0]), parameters: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`p${i}`, i])) }), 400, 'FIELD_TOO_LARGE'],
    ['a 200 KB input name', () => JSON.stringify({ inputs: [{ name: 'n'.repeat(200_000), datatype: 'FP32', shape: [1, 64], data: new Array(64).fill(0) }] }), 400, 'UNKNOWN_INPUT'],
  ];
  for (const [what, body, status, code] of cases) {
    test(`${what}: ${status} ${code}, with a short message, and the gateway serves on`, async () => {
      const r = await postJson(vigil.port, '/v2/models/digits/infer', body(), await vigil.auth());
      assert.equal(r.status, status, r.text.slice(0, 300));
      assert.equal(r.json.code, code);
      assert.ok(r.text.length < 400, `the error echoes what was sent (${r.text.length} bytes)`);
      const ok = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), await vigil.auth());
      assert.equal(ok.status, 200);
    });
  }
});
