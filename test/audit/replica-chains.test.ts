// Several replicas' audit chains in one directory (server.replica_id): each its own chain, each
// record naming its replica; query and verify take the directory of all of them.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditLog } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { auditLogOptions } from '../../gateway/src/config/audit-options.js';
import { configSchema } from '../../gateway/src/config/schema.js';
import { runCommandFunction } from '../helpers/run-node.js';

const admin = (event: string) => ({ type: 'admin' as const, time: new Date().toISOString(), event, principal: 'ops', outcome: 'ok' as const, detail: {} });

test('replicas write their own chains in audit.dir/<replica>; one query and one verify cover them all, and a break names its replica', async () => {
  const root = await mkdtemp(join(tmpdir(), 'vigil-replica-chains-'));
  const audit = configSchema.parse({ audit: { dir: root } }).audit;
  const logs = await Promise.all(['a', 'b'].map((id) => AuditLog.open(auditLogOptions(audit, { hmacKey: undefined, signingKey: undefined }, id))));
  for (let i = 0; i < 5; i++) for (const [k, log] of logs.entries()) await log.append(admin(`e${k}-${i}`));
  await Promise.all(logs.map((l) => l.close()));
  assert.deepEqual((await readdir(root)).sort(), ['a', 'b']);

  const all = [];
  for await (const rec of queryAudit(root)) all.push(rec);
  assert.equal(all.length, 10);
  assert.deepEqual(all.filter((r) => r.replica === 'a').map((r) => r.type === 'admin' && r.event), ['e0-0', 'e0-1', 'e0-2', 'e0-3', 'e0-4']);
  assert.deepEqual(all.filter((r) => r.replica === 'b').map((r) => r.seq), [1, 2, 3, 4, 5], 'each chain its own seq');
  await assert.rejects(async () => {
    for await (const _ of queryAudit(root, { afterSeq: 2 })) void _;
  }, /after_seq counts within one chain/);
  // One replica's directory still reads as one chain.
  let one = 0;
  for await (const _ of queryAudit(join(root, 'b'), { afterSeq: 2 })) one++;
  assert.equal(one, 3);

  const cmd = new URL('../../gateway/src/commands/audit-verify.js', import.meta.url).href;
  const good = await runCommandFunction(cmd, 'auditVerifyCommand', [root, {}]);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^replica a:/m);
  assert.match(good.stdout, /ALL 2 REPLICA CHAINS INTACT/);

  const bDir = join(root, 'b');
  const file = join(bDir, (await readdir(bDir)).find((n) => n.startsWith('audit-'))!);
  await writeFile(file, (await readFile(file, 'utf8')).replace('"e1-2"', '"e1-X"'));
  const bad = await runCommandFunction(cmd, 'auditVerifyCommand', [root, { json: true }]);
  assert.equal(bad.code, 1);
  const report = JSON.parse(bad.stdout) as { ok: boolean; replicas: { replica: string; ok: boolean }[] };
  assert.deepEqual(report.replicas.map((r) => [r.replica, r.ok]), [['a', true], ['b', false]]);
});

test('a replica id that could leave the audit folder is refused by the config, from the file or the environment', async () => {
  for (const bad of ['../etc', 'a/b', '.hidden', '', 'x'.repeat(64), 'a b']) {
    assert.equal(configSchema.safeParse({ server: { replica_id: bad } }).success, false, JSON.stringify(bad));
  }
  assert.equal(configSchema.safeParse({ server: { replica_id: 'vigil-gateway-7d9c5-x2x7k' } }).success, true, 'a Kubernetes pod name');
  const { loadConfig } = await import('../../gateway/src/config/load-config.js');
  await assert.rejects(loadConfig(undefined, { VIGIL_REPLICA_ID: '../../tmp' }), /replica_id/);
});
