// A security team investigating with the log (issue 16, item 5): who failed to authenticate in
// the last hour by the identity they claimed, malformed requests told apart from denials, filters
// by source, request id, status, auth method, rule and code globs, a cursor that pages past any
// limit exactly, --follow, a SIEM format, and `| head` that never crashes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/src/audit/audit-log.js';
import { auditOptions } from '../helpers/audit-options.js';
import { after, before, describe, test } from 'node:test';
import { inferRequest } from '../helpers/heldout.js';
import { runNode, runVigil } from '../helpers/run-node.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

/** A real token of `sub` with one signature byte changed: it claims `sub` and the dev key's kid, and fails verification. */
function forged(token: string): string {
  const [h, p, s] = token.split('.');
  return `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
}

describe('audit investigations', () => {
  let vigil: TestVigil;
  let dir: string;
  let auditor: Record<string, string>;
  before(async () => {
    vigil = await startTestVigil();
    dir = vigil.config.audit.dir;
    auditor = await vigil.auth(['auditor'], 'ada');
    const infer = (headers: Record<string, string>, body: unknown = inferRequest('mnist', [40])) => postJson(vigil.port, '/v2/models/mnist/infer', body, headers);
    const mallory = await vigil.token('mallory', ['admin']);
    for (let i = 0; i < 3; i++) assert.equal((await infer({ authorization: `Bearer ${forged(mallory)}`, 'x-request-id': `mallory-${i}` })).status, 401);
    assert.equal((await infer({ authorization: `Bearer ${forged(await vigil.token('eve'))}` })).status, 401);
    assert.equal((await infer({ 'x-api-key': 'vk.ghost.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status, 401);
    assert.equal((await infer({ authorization: 'Bearer not-a-jwt' })).status, 401);
    const analyst = await vigil.auth(['analyst'], 'alice');
    assert.equal((await infer(analyst)).status, 200);
    const invalid = await infer({ ...analyst, 'x-request-id': 'bad-shape' }, { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    assert.equal(invalid.status, 400);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/mnist/stats', { headers: await vigil.auth(['auditor'], 'aud') })).status, 403);
  });
  after(() => vigil?.stop());

  test('vigil audit report --auth --failed: who failed to authenticate in the last hour, by claimed identity, unverified', async () => {
    const { code, stdout, stderr } = await runVigil(['audit', 'report', dir, '--auth', '--failed', '--since', '1h', '--json']);
    assert.equal(code, 0, stderr);
    const rows = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const byClaim = Object.fromEntries(rows.map((r) => [r.claimed, r]));
    assert.equal(rows[0].claimed, 'mallory@vigil-dev', 'the most failures first');
    assert.equal(byClaim['mallory@vigil-dev'].failures, 3);
    assert.deepEqual(byClaim['mallory@vigil-dev'].codes, { TOKEN_SIGNATURE_INVALID: 3 });
    assert.equal(byClaim['mallory@vigil-dev'].verified, false);
    assert.equal(typeof byClaim['mallory@vigil-dev'].kid, 'string');
    assert.equal(byClaim['mallory@vigil-dev'].sources, '127.0.0.1');
    assert.equal(byClaim['eve@vigil-dev'].failures, 1);
    assert.equal(byClaim['key:ghost'].failures, 1);
    assert.equal(byClaim.malformed.failures, 1);
    assert.ok(!('alice@vigil-dev' in byClaim), 'a verified caller is not a failure');
    const table = await runVigil(['audit', 'report', dir, '--auth', '--failed', '--since', '1h']);
    assert.match(table.stdout.split('\n')[0], /^CLAIMED +KID +FAILURES +SOURCES +CODES +FIRST +LAST$/);
    const none = await runVigil(['audit', 'report', dir, '--auth', '--failed', '--until', '2h']);
    assert.equal(none.stdout.trim().split('\n').length, 1, 'nothing older than two hours: the header alone');
  });

  test('the record of a refused token holds what it claimed, marked unverified, and never the token', async () => {
    const { stdout } = await runVigil(['audit', 'query', dir, '--request-id', 'mallory-0', '--json']);
    const [rec] = stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rec.principal, 'unauthenticated');
    assert.deepEqual({ ...rec.claimed, kid: undefined }, { verified: false, kind: 'jwt', sub: 'mallory', iss: 'vigil-dev', kid: undefined });
    assert.doesNotMatch(stdout, /eyJ/, 'no token in the log');
  });

  test('a malformed request is decision invalid with the stage that read it as its rule; a policy refusal stays deny', async () => {
    const invalid = await runVigil(['audit', 'query', dir, '--decision', 'invalid', '--json']);
    const records = invalid.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => [r.client_request_id, r.code, r.rule]), [['bad-shape', 'SHAPE_MISMATCH', 'stage:body']]);
    const denied = await runVigil(['audit', 'query', dir, '--decision', 'deny', '--rule', 'default-deny', '--json']);
    assert.deepEqual(denied.stdout.trim().split('\n').map((l) => JSON.parse(l).code), ['FORBIDDEN']);
    const summary = await runVigil(['audit', 'report', dir, '--summary', 'code', '--json']);
    const byCode = Object.fromEntries(summary.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.code, r]));
    assert.equal(byCode.SHAPE_MISMATCH.invalid, 1);
    assert.equal(byCode.TOKEN_SIGNATURE_INVALID.deny, 4);
  });

  test('filters: code and rule globs, status classes, auth method, source; bad values refused', async () => {
    const q = async (...args: string[]) => (await runVigil(['audit', 'query', dir, '--json', ...args])).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal((await q('--code', 'TOKEN_*')).length, 5);
    assert.ok((await q('--code', 'API_KEY_*')).length === 1);
    assert.equal((await q('--status', '4xx', '--auth-method', 'none')).length, 6);
    assert.ok((await q('--status', '200')).every((r) => r.status === 200));
    assert.equal((await q('--source', '10.*')).length, 0);
    assert.ok((await q('--source', '127.0.0.*')).length >= 9);
    assert.ok((await q('--rule', 'stage:*', '--type', 'request')).every((r) => r.rule.startsWith('stage:')));
    const bad = await runVigil(['audit', 'query', dir, '--status', '4x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a status/);
  });

  test('--format ecs: Elastic Common Schema lines with the record itself under vigil', async () => {
    const { stdout } = await runVigil(['audit', 'query', dir, '--request-id', 'mallory-1', '--format', 'ecs']);
    const ecs = JSON.parse(stdout.trim());
    assert.equal(ecs.event.category[0], 'authentication');
    assert.equal(ecs.event.outcome, 'failure');
    assert.equal(ecs.event.reason, 'TOKEN_SIGNATURE_INVALID');
    assert.equal(ecs.source.ip, '127.0.0.1');
    assert.equal(ecs.user.claimed.sub, 'mallory');
    assert.equal(ecs.vigil.client_request_id, 'mallory-1');
    assert.ok(Date.parse(ecs['@timestamp']) > 0);
  });

  test('GET /audit pages with a cursor, exactly: no record skipped or repeated; unknown parameters and forged cursors refused', async () => {
    const all = (await rawRequest(vigil.adminPort, 'GET', '/audit?limit=10000', { headers: auditor })).json.records;
    const paged = [];
    let cursor: string | null = null;
    for (let page = 0; page < 50; page++) {
      const r: { status: number; json: { records: { seq: number }[]; next: string | null } } = await rawRequest(vigil.adminPort, 'GET', `/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { headers: auditor });
      assert.equal(r.status, 200);
      paged.push(...r.json.records);
      cursor = r.json.next;
      if (!cursor) break;
    }
    // Each page is itself audited (audit.query), so the log grew while paging: compare the first part.
    assert.deepEqual(paged.slice(0, all.length).map((r) => r.seq), all.map((r: { seq: number }) => r.seq));
    assert.equal(new Set(paged.map((r) => r.seq)).size, paged.length);
    const forgedCursor = await rawRequest(vigil.adminPort, 'GET', '/audit?cursor=eyJ4Ijoi', { headers: auditor });
    assert.equal(forgedCursor.status, 400);
    assert.equal(forgedCursor.json.code, 'INVALID_QUERY');
    const unknown = await rawRequest(vigil.adminPort, 'GET', '/audit?princpal=bob', { headers: auditor });
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.error, /unknown query parameter princpal/);
  });

  test('reading /status is audited', async () => {
    const admin = await vigil.auth(['admin'], 'root');
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/status', { headers: admin })).status, 200);
    const { stdout } = await runVigil(['audit', 'query', dir, '--type', 'admin', '--action', 'status.read', '--json']);
    assert.equal(JSON.parse(stdout.trim().split('\n').at(-1)!).principal, 'user:root');
  });

  test('--follow prints records written after it started', async () => {
    const follower = spawn(process.execPath, ['bin/vigil.js', 'audit', 'query', dir, '--follow', '--json', '--request-id', 'followed'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follower.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(out, '', 'nothing matches yet');
      await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [41]), { ...(await vigil.auth(['analyst'], 'alice')), 'x-request-id': 'followed' });
      const deadline = Date.now() + 10_000;
      while (!out.includes('"followed"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(JSON.parse(out.trim()).client_request_id, 'followed');
    } finally {
      follower.kill('SIGINT');
    }
  });

  test('`vigil audit query --json | head -1` exits 0 without an EPIPE stack, the pipe closing mid-output', async () => {
    // 3,000 records (~2 MB of JSON): far past a pipe's buffer, so head closes it while vigil writes.
    const scratch = await mkdtemp(join(tmpdir(), 'vigil-epipe-'));
    try {
      const log = await AuditLog.open(auditOptions(join(scratch, 'audit')));
      await Promise.all(Array.from({ length: 3000 }, (_, i) => log.append({ type: 'admin', time: new Date().toISOString(), event: 'test.fill', principal: `p${i}`, outcome: 'ok', detail: { pad: 'x'.repeat(400) } })));
      await log.close();
      const piped = await runNode(['-e', `const r = require('child_process').spawnSync('/bin/bash', ['-c', ${JSON.stringify(`node bin/vigil.js audit query ${join(scratch, 'audit')} --json | head -1 > /dev/null; echo "status \${PIPESTATUS[0]}" >&2`)}], { encoding: 'utf8' }); process.stderr.write(r.stderr);`]);
      assert.doesNotMatch(piped.stderr, /EPIPE|Error|at /);
      assert.match(piped.stderr, /status 0/);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
