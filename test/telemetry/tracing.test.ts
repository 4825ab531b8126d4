import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { inferRequest } from '../helpers/heldout.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

interface SpanLine {
  service: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  status: { code: number; message?: string };
  attributes: Record<string, unknown>;
  start_ns: number;
  duration_ns: number;
}

describe('traces across the gateway and its pools (file exporter)', () => {
  let vigil: TestVigil;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-traces-'));
    process.env.VIGIL_TRACES_DIR = dir; // read by the gateway here and passed on to its pool workers
    vigil = await startTestVigil();
  });
  after(async () => {
    await vigil.stop();
    delete process.env.VIGIL_TRACES_DIR;
    await rm(dir, { recursive: true, force: true });
  });

  async function spans(): Promise<SpanLine[]> {
    const out: SpanLine[] = [];
    // The gateway's file at the top, each pool worker's in pools/<model>.<version>.<index>/.
    for (const f of await readdir(dir, { recursive: true })) {
      if (!f.endsWith('.jsonl')) continue;
      for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) if (line) out.push(JSON.parse(line) as SpanLine);
    }
    return out;
  }

  test('one inference is one trace: gateway stages, then the pool and its ONNX Runtime run, correctly parented', async () => {
    const r = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0, 1]), await vigil.auth(['analyst']));
    assert.equal(r.status, 200);
    const requestId = r.headers['x-request-id'];
    const all = await waitFor('the pool span', async () => {
      const s = await spans();
      return s.some((x) => x.name === 'onnx.run') ? s : undefined;
    });
    const root = all.find((s) => s.service === 'vigil-gateway' && s.attributes['vigil.request_id'] === requestId);
    assert.ok(root, 'the request span');
    assert.equal(root.name, 'POST /v2/models/{model}/infer');
    assert.equal(root.attributes['http.response.status_code'], 200);
    // OTel HTTP server semantic conventions.
    assert.equal(root.attributes['http.request.method'], 'POST');
    assert.equal(root.attributes['http.route'], '/v2/models/{model}/infer');
    assert.equal(root.attributes['url.path'], '/v2/models/digits/infer');
    assert.equal(root.attributes['url.scheme'], 'http');
    assert.equal(root.attributes['server.port'], vigil.port);
    const trace = all.filter((s) => s.trace_id === root.trace_id);
    const stages = trace.filter((s) => s.parent_span_id === root.span_id).map((s) => s.name);
    for (const stage of ['vigil.route', 'vigil.authenticate', 'vigil.select-version', 'vigil.authorize', 'vigil.resolve', 'vigil.admit', 'vigil.queue', 'vigil.body', 'vigil.items', 'vigil.screen', 'vigil.proxy', 'vigil.screen-answer', 'vigil.send']) {
      assert.ok(stages.includes(stage), `${stage} is a child of the request span (have ${stages.join(', ')})`);
    }
    const proxySpan = trace.find((s) => s.name === 'vigil.proxy')!;
    const pool = trace.find((s) => s.name === 'pool.infer');
    assert.ok(pool, 'the pool span is in the same trace');
    assert.equal(pool.service, 'vigil-pool');
    assert.equal(pool.parent_span_id, proxySpan.span_id, 'the pool span is a child of the gateway proxy span');
    assert.equal(pool.attributes['vigil.batch_size'], 2);
    // Inside the pool: the wait in the batcher's queue, the batch being formed, then the run, one after another.
    const [queue, batch, onnx] = ['pool.queue', 'pool.batch', 'onnx.run'].map((name) => trace.find((s) => s.name === name));
    for (const [name, span] of Object.entries({ queue, batch, onnx })) assert.equal(span?.parent_span_id, pool.span_id, `${name} is a child of pool.infer`);
    assert.ok(queue!.start_ns + queue!.duration_ns <= batch!.start_ns + 1e3, 'the queue wait ends before the batch is formed');
    assert.ok(batch!.start_ns + batch!.duration_ns <= onnx!.start_ns + 1e3, 'the batch is formed before the run');
    assert.ok(onnx!.start_ns + onnx!.duration_ns <= pool.start_ns + pool.duration_ns + 1e3, 'the run ends inside pool.infer');
    assert.ok(Number(onnx!.attributes['vigil.batch.items']) >= 2, 'the run holds at least this request\'s 2 items');
    assert.ok(Number(batch!.attributes['vigil.batch.requests']) >= 1);
    // The audit record carries the same trace id.
    const records: StoredAuditRecord[] = [];
    for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'request' })) records.push(rec);
    const mine = records.find((rec) => rec.type === 'request' && rec.request_id === requestId);
    assert.ok(mine && mine.type === 'request');
    assert.equal(mine.trace_id, root.trace_id);
    // No tensor data or token in any span.
    const text = JSON.stringify(trace);
    assert.ok(!text.includes('eyJ'), 'no token in spans');
    assert.ok(!/"data"/.test(text), 'no tensor in spans');
  });

  test("a rejected request's trace shows which stage rejected it and why; health probes make no spans", async () => {
    const r = await rawRequest(vigil.port, 'GET', '/v2/models/mnist', { headers: { authorization: 'Bearer x.y.z' } });
    assert.equal(r.status, 401);
    const before = (await spans()).length;
    for (let i = 0; i < 5; i++) await rawRequest(vigil.port, 'GET', '/v2/health/ready');
    const all = await waitFor('the rejected request span', async () => {
      const s = await spans();
      return s.some((x) => x.attributes['vigil.request_id'] === r.headers['x-request-id']) ? s : undefined;
    });
    assert.equal(all.length, before, 'health probes added no spans');
    const root = all.find((s) => s.attributes['vigil.request_id'] === r.headers['x-request-id'])!;
    const rejecting = all.find((s) => s.trace_id === root.trace_id && s.status.code === 2);
    assert.equal(rejecting?.name, 'vigil.authenticate');
    assert.equal(rejecting?.status.message, 'TOKEN_MALFORMED');
  });
});
