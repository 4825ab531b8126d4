import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { EXPORTED_SERIES } from '../../gateway/src/telemetry/metrics.js';
import { inferRequest } from '../helpers/heldout.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { sample } from '../helpers/prom-text.js';


describe('GET /metrics on the admin port', () => {
  let vigil: TestVigil;
  let text: string;
  before(async () => {
    vigil = await startTestVigil();
    const analyst = await vigil.auth(['analyst'], 'metrics-user');
    for (let i = 0; i < 3; i++) await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0, 1, 2, 3]), { ...analyst, 'x-request-id': `req-${i}` });
    await postJson(vigil.port, '/v2/models/digits/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }, analyst);
    await rawRequest(vigil.port, 'GET', '/v2/models/mnist');
    await rawRequest(vigil.port, 'GET', '/v2/models/mnist', { headers: { authorization: 'Bearer x.y.z' } });
    const r = await rawRequest(vigil.adminPort, 'GET', '/metrics');
    assert.equal(r.status, 200, 'scrapable without credentials');
    text = r.text;
  });
  after(() => vigil.stop());

  test('RED per route, model and version, and the inference figures', () => {
    assert.equal(sample(text, 'http_server_request_duration_seconds_count', { http_route: '/v2/models/{model}/infer', http_response_status_code: '200' }), 3);
    assert.equal(sample(text, 'vigil_inference_requests_total', { model: 'digits', version: '1', outcome: 'success' }), 3);
    assert.equal(sample(text, 'vigil_inference_items_total', { model: 'digits', version: '1' }), 12, 'items count the batch');
    assert.equal(sample(text, 'vigil_inference_batch_size_sum', { model: 'digits', version: '1' }), 12);
    assert.equal(sample(text, 'vigil_inference_compute_duration_seconds_count', { model: 'digits' }), 3, 'compute time reported by the pool');
    assert.equal(sample(text, 'vigil_inference_queue_duration_seconds_count', { model: 'digits' }), 3, 'queue wait reported by the pool');
    assert.equal(sample(text, 'vigil_inference_execution_batch_size_sum', { model: 'digits' }), 12, 'one after another, each request ran alone');
    // Every screened request counts once per detector that judged it (the 4th request is refused unscreened).
    assert.equal(sample(text, 'vigil_detector_inspections_total', { model: 'digits', version: '1', detector: 'structural' }), 3);
    assert.equal(sample(text, 'vigil_detector_inspections_total', { model: 'digits', version: '1', detector: 'profile' }), 3);
    assert.equal(sample(text, 'vigil_pool_up', { model: 'mnist', version: '1' }), 1);
    assert.equal(sample(text, 'vigil_pool_workers', { model: 'digits', state: 'up' }), 1);
  });

  test('every series in the scrape is one vigil declares (what dashboards and alert rules are checked against)', () => {
    const names = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
    for (const name of names) assert.ok(EXPORTED_SERIES.includes(name), `${name} is exported but not declared in EXPORTED_SERIES`);
  });

  test("the gateway's and each pool worker's CPU and memory are what the OS reports", async (t) => {
    if (!existsSync('/proc/self/statm')) return t.skip('no /proc: process figures are read from Linux /proc');
    const scrape = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    const pageSize = Number(execFileSync('getconf', ['PAGESIZE']).toString());
    // Resident pages from statm: another file than the one vigil reads, in another unit.
    const rssOf = (pid: number | 'self') => Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * pageSize;
    const near = (got: number | undefined, want: number, what: string) => assert.ok(got !== undefined && Math.abs(got - want) <= 0.25 * want, `${what}: ${got} vs ${want} from /proc`);
    // The test runs vigil in its own process: the gateway is this process.
    near(sample(scrape, 'process_memory_usage_bytes'), rssOf('self'), 'gateway RSS');
    const heap = scrape.split('\n').filter((l) => l.startsWith('v8js_memory_heap_used_bytes{')).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.ok(heap > 1e6 && heap < sample(scrape, 'process_memory_usage_bytes')!, `V8 heap used ${heap}`);
    assert.ok(sample(scrape, 'process_cpu_time_seconds_total', { cpu_mode: 'user' })! > 0);
    const busy = sample(scrape, 'nodejs_eventloop_utilization_ratio')!;
    assert.ok(busy >= 0 && busy <= 1, `event loop utilization ${busy}`);
    const late = sample(scrape, 'nodejs_eventloop_delay_p99_seconds')!;
    assert.ok(late >= 0 && late < 10, `event loop delay p99 ${late} s`);
    for (const model of ['digits', 'mnist']) {
      const served = vigil.registry.resolve(model, undefined);
      assert.equal(served.status, 'serving');
      const pid = served.pool!.workers[0].pid!;
      near(sample(scrape, 'vigil_pool_worker_memory_usage_bytes', { model, version: '1', worker: '0' }), rssOf(pid), `${model} worker RSS`);
      // Loading ONNX Runtime alone takes more than one clock tick; the counter never runs ahead of the kernel's.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      const kernelSeconds = (Number(stat[11]) + Number(stat[12])) / 100;
      const cpu = sample(scrape, 'vigil_pool_worker_cpu_time_seconds_total', { model, worker: '0', cpu_mode: 'user' })! + sample(scrape, 'vigil_pool_worker_cpu_time_seconds_total', { model, worker: '0', cpu_mode: 'system' })!;
      assert.ok(cpu > 0 && cpu <= kernelSeconds + 1e-9, `${model} worker CPU ${cpu} s vs ${kernelSeconds} s`);
    }
  });

  test('gateway rejections and security figures, with bounded labels only', () => {
    assert.equal(sample(text, 'vigil_rejections_total', { stage: 'body', code: 'SHAPE_MISMATCH' }), 1);
    assert.equal(sample(text, 'vigil_rejections_total', { stage: 'authenticate', code: 'TOKEN_MALFORMED' }), 1);
    assert.equal(sample(text, 'vigil_auth_failures_total', { code: 'TOKEN_MALFORMED' }), 1);
    assert.equal(sample(text, 'vigil_policy_denials_total', { rule: 'default-deny', mode: 'enforce' }), 1);
    assert.ok(!text.includes('metrics-user'), 'no principal in any label');
    assert.ok(!/req-\d/.test(text), 'no request id in any label');
    assert.ok(!/[0-9a-f]{8}-[0-9a-f]{4}-/.test(text), 'no generated id in any label');
    assert.ok(!text.includes('127.0.0.1'), 'no source address in any label');
  });
});
