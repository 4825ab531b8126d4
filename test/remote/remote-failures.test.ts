import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { loadHeldout } from '../helpers/heldout.js';
import { remoteRepository } from '../helpers/remote-models.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

// A remote OIP server that misbehaves on demand, in front of a real gateway: what a client gets
// when the model's server dies, stalls, answers garbage, or keeps failing.

type Mode = 'ok' | 'garbage' | 'shape' | 'stall' | 'fail500' | 'deep' | 'extra-rows' | 'huge' | 'huge-chunked' | 'non-finite' | 'fraction' | 'chatty-400' | 'shed' | 'slow-ok';

class FakeOip {
  mode: Mode = 'ok';
  readyStatus = 200;
  hits = 0;
  server!: Server;
  port = 0;
  private stalled: ServerResponse[] = [];

  async listen(port = 0): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === 'GET' && req.url?.endsWith('/ready')) return void res.writeHead(this.readyStatus).end('{}');
    if (req.method !== 'POST' || !req.url?.endsWith('/versions/1/infer')) return void res.writeHead(404).end();
    this.hits++;
    const rows = (JSON.parse(Buffer.concat(chunks).toString()) as { inputs: { shape: number[] }[] }).inputs[0].shape[0];
    const answer = (probabilityColumns: number, rowsOut = rows) => ({
      model_name: 'someone-elses-name',
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [rowsOut, probabilityColumns], data: new Array(rowsOut * probabilityColumns).fill(0.1) },
        { name: 'label', datatype: 'INT64', shape: [rowsOut, 1], data: new Array(rowsOut).fill(3) },
        { name: 'internal_embedding', datatype: 'FP32', shape: [rowsOut, 2], data: new Array(rowsOut * 2).fill(7) },
      ],
    });
    const ok = JSON.stringify(answer(10));
    switch (this.mode) {
      case 'ok':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(ok);
      case 'slow-ok':
        return void setTimeout(() => res.writeHead(200).end(ok), 400);
      case 'huge': {
        // A valid answer padded to 64 MiB, announced up front: the gateway must refuse it on the
        // announcement. The rest is never built (64 MiB of string work here, in the gateway's own
        // process, once held its event loop past the 400 ms deadline on a loaded machine).
        res.writeHead(200, { 'content-length': 64 * 1024 * 1024 });
        return void res.write(`${ok.slice(0, -1)},"pad":"`);
      }
      case 'huge-chunked': {
        // The same with no length: it must be cut off as it streams in.
        res.writeHead(200);
        res.write(`${ok.slice(0, -1)},"pad":"`);
        const chunk = 'x'.repeat(1024 * 1024);
        let sent = 0;
        const more = () => {
          if (res.destroyed || sent++ >= 64) return void res.end('"}');
          if (res.write(chunk)) setImmediate(more);
          else res.once('drain', more);
        };
        return more();
      }
      case 'non-finite':
        return void res.writeHead(200).end(ok.replace('"data":[0.1', '"data":[-1e309'));
      case 'fraction':
        return void res.writeHead(200).end(ok.replace('"data":[3', '"data":[3.5'));
      case 'chatty-400':
        return void res.writeHead(400).end('{"error":"Triton at 10.3.7.12: /models/digits/1/model.onnx, mail ops@internal","code":"INVALID_INFERENCE_REQUEST"}');
      case 'shed':
        return void res.writeHead(503, { 'retry-after': '7' }).end('{"error":"queue full","code":"POOL_OVERLOADED"}');
      case 'garbage':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('<script>alert(1)</script> not an answer');
      case 'shape':
        return void res.writeHead(200).end(JSON.stringify(answer(3)));
      case 'extra-rows':
        return void res.writeHead(200).end(JSON.stringify(answer(10, rows + 1)));
      case 'deep':
        return void res.writeHead(200).end(`{"outputs":${'['.repeat(5000)}${']'.repeat(5000)}}`);
      case 'fail500':
        return void res.writeHead(500).end('{"error":"boom","code":"AUDIT_UNAVAILABLE"}');
      case 'stall':
        this.stalled.push(res); // never answered
    }
  }
}

const heldout = loadHeldout('digits');
const digit = (i = 0) => ({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: heldout.inputs[i] }] });

describe('a remote backend that misbehaves', () => {
  let fake: FakeOip;
  let vigil: TestVigil;
  let cleanup: () => Promise<void>;
  let headers: Record<string, string>;

  async function setup(backend: Record<string, unknown> = {}): Promise<void> {
    fake = new FakeOip();
    await fake.listen();
    const repo = await remoteRepository({
      digits: {
        kind: 'oip-http',
        url: `http://127.0.0.1:${fake.port}`,
        timeout_ms: 400,
        health: { interval_ms: 100, timeout_ms: 200, unhealthy_after: 2 },
        circuit: { failures: 3, open_ms: 700, max_open_ms: 5000 },
        ...backend,
      },
    });
    cleanup = repo.cleanup;
    vigil = await startTestVigil({ models: { repository: repo.dir } });
    headers = await vigil.auth(['analyst'], 'alice');
  }

  afterEach(async () => {
    await vigil?.stop();
    await fake?.close().catch(() => undefined);
    await cleanup?.();
  });

  const infer = (id: string) => postJson(vigil.port, '/v2/models/digits/infer', digit(), { ...headers, 'x-request-id': id });

  async function auditCode(id: string): Promise<string | null | undefined> {
    for await (const r of queryAudit(vigil.config.audit.dir)) if (r.type === 'request' && r.client_request_id === id) return r.code;
    return undefined;
  }

  test('a good answer is passed on as vigil\'s own: its model name, only the declared outputs', async () => {
    await setup();
    const r = await infer('ok');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model_name, 'digits');
    assert.equal(r.json.model_version, '1');
    assert.deepEqual(r.json.outputs.map((o: { name: string }) => o.name), ['probabilities', 'label']);
    assert.doesNotMatch(r.text, /someone-elses-name|internal_embedding/);
  });

  const adminStatus = async () => {
    const status = await rawRequest(vigil.adminPort, 'GET', '/status', { headers: await vigil.auth(['admin'], 'root') });
    return status.json.models.find((m: { model: string }) => m.model === 'digits');
  };

  for (const [mode, problem] of [
    ['garbage', /not JSON/],
    ['shape', /dimension 1 of 10/],
    ['extra-rows', /expected 1 rows/],
    ['deep', /nests deeper/],
    ['non-finite', /element 0 is not a valid FP32 value/],
    ['fraction', /'label': element 0 is not a valid INT64 value/],
    ['huge', /over the \d+ the signature allows/],
    ['huge-chunked', /answer over the \d+ bytes the signature allows/],
  ] as const) {
    test(`an answer that is not a valid inference response (${mode}) is 502 POOL_ERROR; the problem is on /status, and nothing of the server's reaches the client`, async () => {
      await setup();
      fake.mode = mode;
      const r = await infer(`bad-${mode}`);
      assert.equal(r.status, 502, r.text);
      assert.equal(r.json.code, 'POOL_ERROR');
      assert.doesNotMatch(r.text, /script|someone-elses-name|127\.0\.0\.1|xxxx/);
      assert.match((await adminStatus()).last_problem, problem);
      assert.equal(await auditCode(`bad-${mode}`), 'POOL_ERROR');
    });
  }

  test("a server's 4xx is passed on as its catalogue code with vigil's words, never the server's, and does not count against the circuit", async () => {
    await setup();
    fake.mode = 'chatty-400';
    for (let i = 0; i < 4; i++) {
      const r = await infer(`chatty-${i}`);
      assert.equal(r.status, 400);
      assert.equal(r.json.code, 'INVALID_INFERENCE_REQUEST');
      assert.doesNotMatch(r.text, /Triton|10\.3|ops@|onnx/);
    }
    assert.equal((await adminStatus()).circuit, 'closed');
  });

  test("a server shedding load gets its clients told to back off (503 OVERLOADED, its Retry-After), without opening the circuit", async () => {
    await setup();
    fake.mode = 'shed';
    for (let i = 0; i < 5; i++) {
      const r = await infer(`shed-${i}`);
      assert.equal(r.status, 503);
      assert.equal(r.json.code, 'OVERLOADED');
      assert.equal(r.headers['retry-after'], '7');
    }
    assert.equal((await adminStatus()).circuit, 'closed');
    fake.mode = 'ok';
    assert.equal((await infer('after-shed')).status, 200);
  });

  test('a busy server is not taken for a dead one: health checks have their own connection', async () => {
    await setup({ connections: 2, timeout_ms: 4500 });
    fake.mode = 'slow-ok';
    // 2 connections, each answer 400 ms: 16 requests keep both busy for about 3.2 s, far past the
    // 2 × 200 ms a health check queued behind them would need to be counted as missed.
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => infer(`busy-${i}`)));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
    assert.equal((await adminStatus()).healthy, true);
  });

  test('a 500 carrying a gateway code is not passed on as that code', async () => {
    await setup();
    fake.mode = 'fail500';
    const r = await infer('500');
    assert.equal(r.status, 502);
    assert.equal(r.json.code, 'POOL_ERROR');
  });

  test('after `circuit.failures` failures in a row the circuit opens: refused at once with Retry-After, the server not asked; a trial after open_ms closes it', async () => {
    await setup();
    fake.mode = 'fail500';
    for (let i = 0; i < 3; i++) assert.equal((await infer(`f${i}`)).status, 502);
    const refused = await infer('open');
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.json.code, 'BACKEND_UNAVAILABLE');
    assert.match(refused.json.error, /paused after 3 failures in a row/);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.equal(fake.hits, 3, 'the open circuit kept the request from the server');
    assert.equal(await auditCode('open'), 'BACKEND_UNAVAILABLE');
    const status = await rawRequest(vigil.adminPort, 'GET', '/status', { headers: await vigil.auth(['admin'], 'root') });
    const digits = status.json.models.find((m: { model: string }) => m.model === 'digits');
    assert.deepEqual([digits.backend, digits.circuit, digits.status], ['oip-http', 'open', 'unavailable']);

    fake.mode = 'ok';
    const back = await waitFor('the trial request after open_ms', async () => {
      const r = await infer('trial');
      return r.status === 200 ? r : undefined;
    }, 5_000, 100);
    assert.equal(back.json.model_name, 'digits');
    const events: string[] = [];
    for await (const r of queryAudit(vigil.config.audit.dir)) if (r.type === 'admin' && r.event === 'backend.circuit') events.push(String((r.detail as { state: string }).state));
    // Closed by the trial request (through half-open) or by a health check that passed first: either way, audited.
    assert.equal(events[0], 'open');
    assert.equal(events.at(-1), 'closed');
    assert.ok(events.length <= 3, events.join(' → '));
  });

  test('an open circuit closes on a passing health check once open_ms is up, with no client traffic at all: the gateway is ready again by itself', async () => {
    await setup();
    fake.mode = 'fail500';
    for (let i = 0; i < 3; i++) await infer(`f${i}`);
    assert.equal((await adminStatus()).circuit, 'open');
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/readyz')).status, 503, 'its only model is out of service');
    fake.mode = 'ok';
    const hits = fake.hits;
    await waitFor('the gateway ready again', async () => (await rawRequest(vigil.adminPort, 'GET', '/readyz')).status === 200, 5_000, 50);
    await waitFor('a health check to close the circuit', async () => (await adminStatus()).circuit === 'closed', 5_000, 50);
    assert.equal(fake.hits, hits, 'no inference was needed');
  });

  test("a server stalling past the gateway's own deadline still opens the circuit (timeout_ms is kept under server.request_timeout_ms)", async () => {
    fake = new FakeOip();
    await fake.listen();
    const repo = await remoteRepository({ digits: { kind: 'oip-http', url: `http://127.0.0.1:${fake.port}`, timeout_ms: 30_000, circuit: { failures: 2, open_ms: 5000 } } });
    cleanup = repo.cleanup;
    vigil = await startTestVigil({ models: { repository: repo.dir }, server: { request_timeout_ms: 600 } });
    headers = await vigil.auth(['analyst'], 'alice');
    fake.mode = 'stall';
    for (const id of ['s1', 's2']) assert.equal((await infer(id)).json.code, 'POOL_TIMEOUT');
    const refused = await infer('s3');
    assert.equal(refused.json.code, 'BACKEND_UNAVAILABLE', 'the circuit opened');
    assert.equal(fake.hits, 2);
  });

  test('a server that stalls: 504 POOL_TIMEOUT after timeout_ms, the gateway answers everything else meanwhile, and the circuit opens', async () => {
    await setup();
    fake.mode = 'stall';
    const stalled = infer('stall-1');
    const live = await rawRequest(vigil.port, 'GET', '/v2/health/live');
    assert.equal(live.status, 200, 'the gateway is not held by a stalled backend');
    const r = await stalled;
    assert.equal(r.status, 504, r.text);
    assert.equal(r.json.code, 'POOL_TIMEOUT');
    assert.match(r.json.error, /within 400 ms/);
    await Promise.all([infer('stall-2'), infer('stall-3')]);
    const refused = await infer('stall-4');
    assert.equal(refused.json.code, 'BACKEND_UNAVAILABLE');
  });

  test('a server that dies: refused at once (not after a timeout), the model not ready, vigil_pool_up 0; served again when it returns', async () => {
    await setup();
    assert.equal((await infer('before')).status, 200);
    const port = fake.port;
    await fake.close();
    const r = await infer('dead');
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.code, 'BACKEND_UNAVAILABLE');
    assert.ok(Number(r.headers['retry-after']) >= 1);
    await waitFor('the model reported not ready', async () => (await rawRequest(vigil.port, 'GET', '/v2/models/digits/ready', { headers })).status === 503);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/ready')).status, 503, 'its only model is down');
    const metrics = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    assert.match(metrics, /vigil_pool_up\{[^}]*model="digits"[^}]*\} 0\b/);
    const down = await infer('down');
    assert.equal(down.json.code, 'BACKEND_UNAVAILABLE');
    assert.match(down.json.error, /failing its health checks/);

    fake = new FakeOip();
    await fake.listen(port);
    await waitFor('the model ready again', async () => (await rawRequest(vigil.port, 'GET', '/v2/models/digits/ready', { headers })).status === 200, 5_000, 50);
    assert.equal((await infer('after')).status, 200);
  });

  test('a server failing its health checks is taken out of service before any request is sent to it', async () => {
    await setup();
    fake.readyStatus = 503;
    await waitFor('the model reported not ready', async () => (await rawRequest(vigil.port, 'GET', '/v2/models/digits/ready', { headers })).status === 503);
    const hits = fake.hits;
    const r = await infer('unhealthy');
    assert.equal(r.json.code, 'BACKEND_UNAVAILABLE');
    assert.equal(fake.hits, hits);
  });
});
