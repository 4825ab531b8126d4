// The admin port's audit query under hostile input (issue 11, item 14). Before: globs compiled to
// backtracking regexes, and `model=a*a*a*a*a*a*!` against long stored names ran 72–94 s on the
// one event loop, freezing the inference port with it; a repeated `?model=a&model=b` answered
// 500 (`p.split is not a function`) and unknown parameters were silently ignored.
// vigil runs as its own process here, so that a frozen gateway fails this test by its timeout
// instead of freezing the test runner too.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog } from '../../gateway/src/audit/audit-log.js';
import type { RequestAuditRecord } from '../../gateway/src/audit/audit-record.js';
import { auditOptions } from '../helpers/audit-options.js';
import { requestRecord } from '../helpers/audit-records.js';
import { inferRequest } from '../helpers/heldout.js';
import { spawnVigil, type VigilProcess } from '../helpers/vigil-process.js';
import { postJson, rawRequest } from '../helpers/vigil-harness.js';

const LONG = 'a'.repeat(200);
const STORED = 2_000;

function stored(i: number, model: string): RequestAuditRecord {
  return requestRecord({ time: new Date(Date.UTC(2025, 5, 1, 12, 0, 0, i)).toISOString(), request_id: `stored-${i}`, principal: `user:${LONG}`, source: '10.0.0.1', model, latency_ms: 1, bytes_in: 3000, bytes_out: 100 });
}

describe('hostile: GET /audit with pathological globs and malformed query strings', () => {
  let scratch: string;
  let vigil: VigilProcess;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'vigil-hostile-query-'));
    const dir = join(scratch, 'audit');
    // A log already holding many long model names (and principals) before vigil starts on it.
    const log = await AuditLog.open(auditOptions(dir));
    for (let i = 0; i < STORED; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => log.append(stored(i + k, i + k === 1234 ? `${'a'.repeat(60)}!` : LONG))));
    await log.close();
    vigil = await spawnVigil({ VIGIL_AUDIT_DIR: dir });
  });
  after(async () => {
    vigil?.child.kill('SIGTERM');
    await vigil?.exited;
    await rm(scratch, { recursive: true, force: true });
  });

  test('a backtracking-bait glob answers, with the right match, while the inference port keeps serving', { timeout: 120_000 }, async () => {
    const auditor = await vigil.auth(['auditor'], 'sec-team');
    const analyst = await vigil.auth(['analyst'], 'steady');
    const [query, live, inference] = await Promise.all([
      rawRequest(vigil.adminPort, 'GET', '/audit?model=a*a*a*a*a*a*!&limit=10000', { headers: auditor }),
      rawRequest(vigil.port, 'GET', '/v2/health/live'),
      postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), analyst),
    ]);
    assert.equal(query.status, 200, query.text);
    assert.deepEqual(query.json.records.map((r: { request_id: string }) => r.request_id), ['stored-1234']);
    assert.equal(live.status, 200);
    assert.equal(inference.status, 200, inference.text);
    // `?` is one character, `*` any run: the globs still mean what they say.
    const q = await rawRequest(vigil.adminPort, 'GET', `/audit?model=${'?'.repeat(60)}!&principal=user:a*a`, { headers: auditor });
    assert.deepEqual(q.json.records.map((r: { request_id: string }) => r.request_id), ['stored-1234']);
  });

  test('a repeated, unknown or malformed parameter is 400 INVALID_QUERY, and the refusal is audited', async () => {
    const auditor = await vigil.auth(['auditor'], 'sec-team');
    for (const path of ['/audit?model=a&model=b', '/audit?modle=mnist', '/audit?decision=dney', '/audit?limit=lots', `/audit?principal=${'x'.repeat(300)}`, '/audit?model[]=a']) {
      const r = await rawRequest(vigil.adminPort, 'GET', path, { headers: auditor });
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.equal(r.json.code, 'INVALID_QUERY', path);
      assert.equal(typeof r.json.error, 'string');
    }
    const refusals = await rawRequest(vigil.adminPort, 'GET', '/audit?type=admin&action=audit.query&limit=10000', { headers: auditor });
    const failed = refusals.json.records.filter((r: { outcome: string }) => r.outcome === 'failed');
    assert.equal(failed.length, 6);
    assert.deepEqual(
      failed.map((r: { detail: { code: string; parameter: string | null } }) => [r.detail.code, r.detail.parameter]),
      [
        ['INVALID_QUERY', 'model'],
        ['INVALID_QUERY', null],
        ['INVALID_QUERY', 'decision'],
        ['INVALID_QUERY', 'limit'],
        ['INVALID_QUERY', 'principal'],
        ['INVALID_QUERY', null],
      ],
    );
  });
});
