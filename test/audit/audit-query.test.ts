// A security team asks the log questions: who was denied, what did this key do in the last
// 15 minutes, which alerts fired. The query streams the files and filters; the CLI prints a
// table or JSON lines.
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog, type StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import type { AuditRecord, RequestAuditRecord } from '../../gateway/src/audit/audit-record.js';
import { listLogFiles, logFileName } from '../../gateway/src/audit/chain.js';
import { parseTime, queryAudit, type AuditFilter } from '../../gateway/src/audit/query.js';
import { filterOf } from '../../gateway/src/commands/audit-query.js';
import { auditOptions } from '../helpers/audit-options.js';
import { runCommandFunction } from '../helpers/run-node.js';

const MIN = 60_000;

function req(minutesAgo: number, o: Partial<RequestAuditRecord>): RequestAuditRecord {
  return {
    type: 'request',
    time: new Date(Date.now() - minutesAgo * MIN).toISOString(),
    request_id: `r-${minutesAgo}-${o.principal ?? 'x'}`,
    client_request_id: null,
    trace_id: null,
    principal: 'user:alice',
    auth_method: 'jwt',
    source: '10.1.2.3',
    method: 'POST',
    action: 'infer',
    model: 'mnist',
    version: '1',
    decision: 'allow',
    rule: 'grant:analysts',
    code: null,
    modes: { authorization: 'enforce' },
    shadow_denials: [],
    status: 200,
    latency_ms: 4.2,
    bytes_in: 3100,
    bytes_out: 130,
    batch: 1,
    ...o,
  };
}

async function collect(dir: string, filter: AuditFilter, limit?: number): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for await (const r of queryAudit(dir, filter, limit)) out.push(r);
  return out;
}

const ids = (rs: StoredAuditRecord[]) => rs.map((r) => (r.type === 'request' ? r.request_id : r.type === 'admin' ? r.event : `alert:${r.rule}`));

describe('audit query', () => {
  let root: string;
  let dir: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vigil-audit-query-'));
    dir = join(root, 'audit');
    const log = await AuditLog.open(auditOptions(dir, { maxFileBytes: 2048 }));
    const rs: AuditRecord[] = [
      req(120, { request_id: 'old-alice' }),
      req(90, { request_id: 'old-deny', principal: 'key:ci', decision: 'deny', rule: 'deny:ci-no-prod', code: 'FORBIDDEN', status: 403 }),
      req(60, { request_id: 'digits-v2', model: 'digits', version: '2' }),
      { type: 'admin', time: new Date(Date.now() - 30 * MIN).toISOString(), event: 'policy.reload', principal: 'user:admin', outcome: 'ok', detail: {} },
      req(14, { request_id: 'recent-deny', principal: 'key:ci', decision: 'deny', rule: 'limit:per-key', code: 'RATE_LIMITED', status: 429 }),
      req(10, { request_id: 'recent-auth', principal: 'unauthenticated', auth_method: 'none', decision: 'deny', rule: 'stage:authenticate', code: 'TOKEN_EXPIRED', status: 401, model: null, version: null }),
      { type: 'alert', time: new Date(Date.now() - 9 * MIN).toISOString(), rule: 'auth_failures', severity: 'critical', state: 'firing', labels: { principal: 'key:ci', model: 'mnist' }, value: 50, baseline: 1 },
      req(5, { request_id: 'recent-alice' }),
      req(1, { request_id: 'recent-ci', principal: 'key:ci' }),
    ];
    for (const r of rs) await log.append(r);
    await log.close();
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('the log spans several files and the query reads them all in order', async () => {
    assert.ok((await listLogFiles(dir)).length >= 3);
    const all = await collect(dir, {});
    assert.deepEqual(all.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('filters: principal (exact, glob, alert labels), model/version, decision, code, type, action', async () => {
    assert.deepEqual(ids(await collect(dir, { principal: 'key:ci' })), ['old-deny', 'recent-deny', 'alert:auth_failures', 'recent-ci']);
    assert.deepEqual(ids(await collect(dir, { principal: 'user:*' })), ['old-alice', 'digits-v2', 'policy.reload', 'recent-alice']);
    assert.deepEqual(ids(await collect(dir, { model: 'digits' })), ['digits-v2']);
    assert.deepEqual(ids(await collect(dir, { model: 'mnist', version: '1', type: 'request', principal: 'user:alice' })), ['old-alice', 'recent-alice']);
    assert.deepEqual(ids(await collect(dir, { decision: 'deny' })), ['old-deny', 'recent-deny', 'recent-auth']);
    assert.deepEqual(ids(await collect(dir, { code: 'TOKEN_EXPIRED' })), ['recent-auth']);
    assert.deepEqual(ids(await collect(dir, { type: 'admin' })), ['policy.reload']);
    assert.deepEqual(ids(await collect(dir, { action: 'alert:*' })), ['alert:auth_failures']);
    assert.deepEqual(ids(await collect(dir, { decision: 'deny', principal: 'key:ci' }, 1)), ['old-deny']);
    assert.deepEqual(ids(await collect(dir, { afterSeq: 7 })), ['recent-alice', 'recent-ci']);
  });

  test('--since 15m, --until, ISO times', async () => {
    assert.deepEqual(ids(await collect(dir, filterOf({ since: '15m' }))), ['recent-deny', 'recent-auth', 'alert:auth_failures', 'recent-alice', 'recent-ci']);
    assert.deepEqual(ids(await collect(dir, filterOf({ since: '2h', until: '45m' }))), ['old-deny', 'digits-v2']);
    const iso = new Date(Date.now() - 7 * MIN).toISOString();
    assert.deepEqual(ids(await collect(dir, filterOf({ since: iso }))), ['recent-alice', 'recent-ci']);
    assert.deepEqual(ids(await collect(dir, filterOf({ since: '1d', decision: 'deny', principal: 'key:ci' }))), ['old-deny', 'recent-deny']);
  });

  test('relative and ISO times parse; anything else is refused with the forms that work', () => {
    const now = Date.UTC(2025, 0, 10, 12, 0, 0);
    assert.equal(parseTime('15m', now).toISOString(), '2025-01-10T11:45:00.000Z');
    assert.equal(parseTime('2h', now).toISOString(), '2025-01-10T10:00:00.000Z');
    assert.equal(parseTime('7d', now).toISOString(), '2025-01-03T12:00:00.000Z');
    assert.equal(parseTime('30s', now).toISOString(), '2025-01-10T11:59:30.000Z');
    assert.equal(parseTime('2025-01-02T03:04:05Z').toISOString(), '2025-01-02T03:04:05.000Z');
    assert.equal(parseTime('2025-01-02T03:04:05+02:00').toISOString(), '2025-01-02T01:04:05.000Z');
    assert.equal(parseTime('2025-01-02').toISOString(), '2025-01-02T00:00:00.000Z');
    for (const bad of ['yesterday', '15', '15x', 'm15', '2025-13-45', '']) assert.throws(() => parseTime(bad), /not a time: use ISO 8601/);
    assert.throws(() => filterOf({ decision: 'maybe' }), /--decision must be allow, deny, invalid/);
    assert.throws(() => filterOf({ type: 'request,admin' }), /--type must be request, admin or alert/);
  });

  test('files wholly before --since are skipped without changing the answer', async () => {
    const d2 = join(root, 'aged');
    const log = await AuditLog.open(auditOptions(d2, { maxFileBytes: 1024 }));
    for (let i = 0; i < 6; i++) await log.append(req(3 * 24 * 60 + i, { request_id: `ancient-${i}` }));
    await log.append(req(2, { request_id: 'fresh' }));
    await log.close();
    // Give the old files the creation times they would have had.
    const files = await listLogFiles(d2);
    for (const f of files.slice(0, -1)) await rename(f.path, join(d2, logFileName(f.firstSeq, new Date(Date.now() - 3 * 24 * 3600_000 + f.firstSeq * 1000))));
    assert.deepEqual(ids(await collect(d2, filterOf({ since: '1d' }))), ['fresh']);
    assert.deepEqual(ids(await collect(d2, filterOf({ since: '4d' }))).length, 7);
  });

  describe('vigil audit query (command)', () => {
    const cmd = new URL('../../gateway/src/commands/audit-query.js', import.meta.url).href;
    const cli = (opts: object) => runCommandFunction(cmd, 'auditQueryCommand', [dir, opts]);

    test('a readable table: time, principal, action, model/version, decision, rule, code, status, latency', async () => {
      const { code, stdout, stderr } = await cli({ since: '15m', principal: 'key:ci' });
      assert.equal(code, 0, stderr);
      const rows = stdout.trimEnd().split('\n');
      assert.match(rows[0], /^TIME +PRINCIPAL +ACTION +MODEL\/VERSION +DECISION +RULE +CODE +STATUS +LATENCY$/);
      assert.equal(rows.length, 4);
      assert.match(rows[1], /^\d{4}-\d\d-\d\dT[\d:.]+Z +key:ci +infer +mnist\/1 +deny +limit:per-key +RATE_LIMITED +429 +4\.2ms$/);
      assert.match(rows[2], /key:ci +alert:auth_failures +mnist +firing +auth_failures +critical/);
      assert.match(stderr, /3 record\(s\)/);
    });

    test('--json prints one stored record a line; --limit and --last; bad options exit 2', async () => {
      const json = await cli({ decision: 'deny', json: true, limit: '2' });
      assert.equal(json.code, 0);
      const recs = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as StoredAuditRecord);
      assert.deepEqual(ids(recs), ['old-deny', 'recent-deny']);
      assert.equal(recs[0].seq, 2);
      assert.match(recs[0].hash, /^sha256:/);
      const last = await cli({ json: true, last: 2 });
      assert.deepEqual(ids(last.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as StoredAuditRecord)), ['recent-alice', 'recent-ci']);
      const bad = await cli({ since: 'last tuesday' });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /not a time/);
      assert.equal((await cli({ limit: '0' })).code, 2);
    });
  });
});
