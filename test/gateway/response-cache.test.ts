// The response cache (issue 17, item 6): off unless a version's model.yaml asks for it; identical
// inputs are answered without the pool, under the asking request's own id; bounded; counted; in
// the audit record; and the detectors still judge every request, hit or not.
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import type { AuditRecord } from '../../gateway/src/audit/audit-record.js';
import { inferRequest, loadHeldout } from '../helpers/heldout.js';
import { copyOfModels, postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';
import { answerFor, keepable, requestKey, ResponseCache } from '../../gateway/src/answers/response-cache.js';

type RequestRecord = Extract<AuditRecord, { type: 'request' }>;

describe('response cache', () => {
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  let vigil: TestVigil;
  const h = loadHeldout('mnist');
  before(async () => {
    repo = await copyOfModels();
    await appendFile(join(repo.dir, 'mnist', '1', 'model.yaml'), '\nresponse_cache: { max_entries: 3 }\n');
    vigil = await startTestVigil({ models: { repository: repo.dir } });
  });
  after(async () => {
    await vigil?.stop();
    await repo?.cleanup();
  });
  const record = async (id: string): Promise<RequestRecord> => {
    for await (const r of queryAudit(vigil.config.audit.dir, { requestId: id })) if (r.type === 'request') return r;
    throw new Error(`no record of ${id}`);
  };
  const poolAnswered = async () => (await rawRequest(vigil.port, 'GET', '/v2/models/mnist/versions/1/stats', { headers: await vigil.auth(['analyst']) })).json.model_stats[0].inference_stats.success.count as number;
  const hits = async () => {
    const text = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    const m = /vigil_response_cache_requests_total\{[^}]*outcome="hit"[^}]*\} (\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  };

  test('the same inputs from another caller with another id: answered from the cache under its own id, the detectors run again', async () => {
    const before = await poolAnswered();
    const first = await postJson(vigil.port, '/v2/models/mnist/infer', { ...inferRequest('mnist', [40, 41]), id: 'first' }, { ...(await vigil.auth(['analyst'], 'ann')), 'x-request-id': 'cache-1' });
    const second = await postJson(vigil.port, '/v2/models/mnist/infer', { ...inferRequest('mnist', [40, 41]), id: 'second' }, { ...(await vigil.auth(['analyst'], 'bob')), 'x-request-id': 'cache-2' });
    assert.equal(first.status, 200, first.text);
    assert.equal(second.status, 200, second.text);
    assert.equal(first.json.id, 'first');
    assert.equal(second.json.id, 'second', 'the answer carries the asking request\'s id');
    assert.deepEqual({ ...second.json, id: undefined }, { ...first.json, id: undefined });
    assert.deepEqual(second.json.outputs.find((o: { name: string }) => o.name === 'label').data, [h.labels[40], h.labels[41]]);
    assert.equal((await poolAnswered()) - before, 1, 'the pool answered once');
    assert.equal(await hits(), 1);
    const [miss, hit] = [await record('cache-1'), await record('cache-2')];
    assert.deepEqual([miss.cache, hit.cache], ['miss', 'hit']);
    const detectors = (r: RequestRecord) => [...new Set((r.findings ?? []).map((f) => f.detector))].sort();
    // squeeze is judged in screen-answer, with extraction and the budgets: on the kept pool report for the hit.
    assert.ok(detectors(hit).includes('squeeze'), `the answer-phase detectors judged the hit: ${detectors(hit).join(', ')}`);
    assert.deepEqual(detectors(hit), detectors(miss));
  });

  test('binary in and out: a hit is re-framed with its own id and header length, the tensor bytes unchanged', async () => {
    const rows = h.inputs.slice(42, 44);
    const wire = (id?: string) => {
      const json = Buffer.from(JSON.stringify({ ...(id ? { id } : {}), inputs: [{ name: 'input', shape: [2, 784], datatype: 'FP32', parameters: { binary_data_size: 2 * 784 * 4 } }], parameters: { binary_data_output: true } }));
      const data = Buffer.alloc(2 * 784 * 4);
      rows.flat().forEach((v, i) => data.writeFloatLE(v, i * 4));
      return { body: Buffer.concat([json, data]), headers: { 'inference-header-content-length': String(json.length), 'content-type': 'application/octet-stream' } };
    };
    const auth = await vigil.auth(['analyst'], 'bin');
    const post = (w: ReturnType<typeof wire>) => rawRequest(vigil.port, 'POST', '/v2/models/mnist/infer', { headers: { ...auth, ...w.headers }, body: w.body });
    const hitsBefore = await hits();
    const a = await post(wire());
    const b = await post(wire('with-an-id'));
    assert.equal(a.status, 200, a.text);
    assert.equal(b.status, 200, b.text);
    assert.equal(await hits(), hitsBefore + 1);
    const split = (r: typeof a) => {
      const n = Number(r.headers['inference-header-content-length']);
      return { header: JSON.parse(r.bytes.subarray(0, n).toString()), tail: r.bytes.subarray(n) };
    };
    const [x, y] = [split(a), split(b)];
    assert.equal(x.header.id, undefined);
    assert.equal(y.header.id, 'with-an-id');
    assert.deepEqual(y.tail, x.tail);
    assert.deepEqual({ ...y.header, id: undefined }, { ...x.header, id: undefined });
  });

  test('other outputs asked for are another request; at most max_entries are kept, the least recently used leaves first', async () => {
    const auth = await vigil.auth(['analyst'], 'lru');
    const ask = (rows: number[], extra: object = {}) => postJson(vigil.port, '/v2/models/mnist/infer', { ...inferRequest('mnist', rows), ...extra }, auth);
    let n = await hits();
    await ask([50]);
    await ask([50], { outputs: [{ name: 'label' }] });
    assert.equal(await hits(), n, 'asking for other outputs is not the same request');
    await ask([51]);
    await ask([52]); // three answers kept since [50] (all outputs): it is out
    n = await hits();
    await ask([52]);
    assert.equal(await hits(), n + 1);
    await ask([50]);
    assert.equal(await hits(), n + 1, 'evicted');
  });

  test('an operator restarting the pool empties the cache: the next identical request goes to the pool again', async () => {
    const auth = await vigil.auth(['analyst'], 'restart');
    const ask = () => postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [60]), auth);
    await ask();
    const n = await hits();
    await ask();
    assert.equal(await hits(), n + 1);
    const restarted = await rawRequest(vigil.adminPort, 'POST', '/pools/mnist/1/restart', { headers: await vigil.auth(['admin'], 'ops') });
    assert.equal(restarted.status, 202, restarted.text);
    await waitFor('mnist serving again', async () => (await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [61]), auth)).status === 200, 20_000, 100);
    const before = await hits();
    assert.equal((await ask()).status, 200);
    assert.equal(await hits(), before, 'a miss after the restart');
  });

  test('a version without response_cache never caches, and its records say nothing of a cache', async () => {
    const auth = { ...(await vigil.auth(['analyst'], 'digits-user')), 'x-request-id': 'no-cache' };
    for (let i = 0; i < 2; i++) assert.equal((await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [40]), auth)).status, 200);
    assert.equal((await record('no-cache')).cache, undefined);
  });
});

describe('response cache: what is kept, and how', () => {
  const answer = (header: object) => Buffer.from(JSON.stringify(header));
  test('only a well-formed answer is kept, its id cut out as text; a hit splices the new id in and leaves every other byte as the pool wrote it', () => {
    const body = Buffer.from('{"model_name":"m","model_version":"1","id":"a\\"b","outputs":[{"name":"x","datatype":"INT64","shape":[1],"data":[9007199254740993]}]}');
    const kept = keepable(body, undefined, 'a"b');
    assert.ok(kept);
    assert.equal(kept.header.toString(), '{"model_name":"m","model_version":"1","outputs":[{"name":"x","datatype":"INT64","shape":[1],"data":[9007199254740993]}]}');
    const again = answerFor({ ...kept, screenReport: undefined, at: 0 }, 'a"b').body.toString();
    assert.deepEqual(JSON.parse(again), JSON.parse(body.toString()));
    assert.match(again, /9007199254740993/, 'no number re-formatted');
    assert.equal(answerFor({ ...kept, screenReport: undefined, at: 0 }, undefined).body.toString(), kept.header.toString());
    for (const [bad, id] of [
      [Buffer.from('upstream hiccup <html>'), undefined],
      [Buffer.from('null'), undefined],
      [answer({ model_name: 'm' }), undefined],
      [answer({ id: 'other', outputs: [] }), 'mine'],
      [answer({ outputs: [] }), 'mine'],
      [answer({ id: 'x', outputs: [{ name: 'o', id: 'x', datatype: 'FP32', shape: [1], data: [1] }] }), 'x'], // which "id" is the answer's?
    ] as const) {
      assert.equal(keepable(bad, undefined, id), null, bad.toString());
    }
    assert.equal(keepable(answer({ outputs: [] }), 1_000, undefined), null, 'a header length past the body');
    // The id as a string inside a BYTES output is escaped in the text: the answer's own id is still the one cut out.
    const bytes = keepable(answer({ id: 'x', outputs: [{ name: 'o', datatype: 'BYTES', shape: [1], data: ['"id":"x"'] }] }), undefined, 'x');
    assert.deepEqual(JSON.parse(bytes!.header.toString()), { outputs: [{ name: 'o', datatype: 'BYTES', shape: [1], data: ['"id":"x"'] }] });
  });

  test('bounded by entries, by bytes with the report, and by ttl_ms; -0 is not 0', () => {
    const cache = new ResponseCache({ maxEntries: 2, maxEntryBytes: 200, ttlMs: 1_000 });
    const entry = (report = '') => ({ header: Buffer.from('{"outputs":[]}'), screenReport: report, at: 0 });
    assert.equal(cache.set('big-report', entry('x'.repeat(200))), false, 'the report counts');
    cache.set('a', entry());
    cache.set('b', entry());
    cache.set('c', entry());
    assert.equal(cache.size, 2);
    assert.equal(cache.get('a', 10), undefined, 'least recently used out');
    assert.ok(cache.get('b', 10));
    assert.equal(cache.get('b', 1_001), undefined, 'past ttl_ms');
    const key = (v: number) => requestKey({ inputs: [{ name: 'i', datatype: 'FP32', shape: [1], data: [v] }] }, false);
    assert.notEqual(key(-0), key(0));
    assert.equal(key(0.5), key(0.5));
  });
});
