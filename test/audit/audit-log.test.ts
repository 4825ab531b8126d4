// The audit log writer, as the gateway uses it and as a security team relies on it: every
// append is either on disk in order or rejected, the chain continues across files and restarts,
// and a failing disk turns the log unhealthy, loudly, until a write succeeds again.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs, { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { once } from 'node:events';
import { AuditError, AuditLog, type AuditRecovery, type Checkpoint, type StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import type { AuditRecord, RequestAuditRecord } from '../../gateway/src/audit/audit-record.js';
import { canonicalJson } from '../../gateway/src/audit/canonical.js';
import { listLogFiles } from '../../gateway/src/audit/chain.js';
import { verifyAudit } from '../../gateway/src/audit/verify.js';
import { auditOptions } from '../helpers/audit-options.js';

function request(i: number, o: Partial<RequestAuditRecord> = {}): RequestAuditRecord {
  const deny = i % 4 === 0;
  return {
    type: 'request',
    time: new Date(Date.UTC(2025, 5, 1, 12, 0, i)).toISOString(),
    request_id: `req-${i}`,
    client_request_id: null,
    trace_id: null,
    principal: i % 3 === 0 ? 'key:ops' : 'user:alice',
    auth_method: i % 3 === 0 ? 'api_key' : 'jwt',
    source: '127.0.0.1',
    method: 'POST',
    action: 'infer',
    model: 'mnist',
    version: '1',
    decision: deny ? 'deny' : 'allow',
    rule: deny ? 'deny:no-mnist' : 'grant:analysts',
    code: deny ? 'FORBIDDEN' : null,
    modes: { authorization: 'enforce' },
    shadow_denials: [],
    status: deny ? 403 : 200,
    latency_ms: 1.25 + i,
    bytes_in: 3200,
    bytes_out: deny ? 60 : 120,
    batch: deny ? null : 1,
    ...o,
  };
}

async function records(dir: string): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for (const f of await listLogFiles(dir)) {
    const text = await readFile(f.path, 'utf8');
    for (const line of text.split('\n')) if (line) out.push(JSON.parse(line) as StoredAuditRecord);
  }
  return out;
}

function fdOf(path: string): number {
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) return Number(fd);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no fd open on ${path}`);
}

describe('audit log writer', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vigil-audit-'));
  });
  after(() => rm(root, { recursive: true, force: true }));
  let n = 0;
  const freshDir = () => join(root, `log-${++n}`);

  test('canonical JSON is RFC 8785: sorted keys, no whitespace, ECMAScript numbers', () => {
    assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1e21, y: 0.000001, x: -0 } }), '{"a":[true,null,"x"],"b":1,"c":{"x":0,"y":0.000001,"z":1e+21}}');
    // RFC 8785 §3.2.3 sorts by UTF-16 code units
    assert.equal(canonicalJson({ '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '\u00f6': 4, '1': 5 }), '{"\\r":2,"1":5,"ö":4,"€":1,"😀":3}');
    assert.equal(canonicalJson({ n: 333333333.33333329, e: 1e-7, u: undefined, d: new Date(0) }), '{"d":"1970-01-01T00:00:00.000Z","e":1e-7,"n":333333333.3333333,"u":null}');
  });

  test('a mixed sequence is chained, seq from 1, one canonical line each, and verifies', async () => {
    const dir = freshDir();
    const log = await AuditLog.open(auditOptions(dir));
    const batch: AuditRecord[] = [
      { type: 'admin', time: new Date().toISOString(), event: 'vigil.start', principal: 'vigil', outcome: 'ok', detail: { version: '0.1.0' } },
      request(1),
      request(4),
      { type: 'alert', time: new Date().toISOString(), rule: 'auth_failures', severity: 'warning', state: 'firing', labels: { principal: 'user:mallory' }, value: 40, baseline: 2.5 },
      { type: 'admin', time: new Date().toISOString(), event: 'policy.reload', principal: 'user:admin', outcome: 'failed', detail: { error: 'line 3: bad grant', file: 'policy.yaml' } },
    ];
    await Promise.all(batch.map((r) => log.append(r)));
    assert.equal(log.healthy, true);
    await log.close();

    const stored = await records(dir);
    assert.deepEqual(stored.map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.equal(stored[0].prev, null);
    for (let i = 1; i < stored.length; i++) assert.equal(stored[i].prev, stored[i - 1].hash);
    assert.deepEqual(stored.map((r) => r.type), ['admin', 'request', 'request', 'alert', 'admin']);
    const [file] = await listLogFiles(dir);
    for (const line of (await readFile(file.path, 'utf8')).trimEnd().split('\n')) assert.equal(line, canonicalJson(JSON.parse(line)));
    assert.match(stored[0].hash, /^sha256:[0-9a-f]{64}$/);

    const cps = (await readFile(join(dir, 'checkpoints.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Checkpoint);
    assert.equal(cps.at(-1)!.seq, 5);
    assert.equal(cps.at(-1)!.head_hash, stored[4].hash);
    assert.equal(cps.at(-1)!.sig.alg, 'none');

    const report = await verifyAudit(dir);
    assert.deepEqual(report.findings, []);
    assert.equal(report.ok, true);
    assert.equal(report.last_seq, 5);
    assert.ok(report.notes.some((n) => /unsigned/.test(n)));
  });

  test('records keep call order, later changes to a record object do not leak in, bad records are refused', async () => {
    const dir = freshDir();
    const log = await AuditLog.open(auditOptions(dir));
    const mutable = request(7);
    const pending = Array.from({ length: 200 }, (_, i) => log.append(i === 7 ? mutable : request(i)));
    mutable.principal = 'user:changed-after-append';
    await Promise.all(pending);
    await assert.rejects(log.append({ ...request(1), seq: 5 } as unknown as AuditRecord), (e: unknown) => e instanceof AuditError && e.kind === 'invalid');
    await assert.rejects(log.append({ type: 'nope', time: 'x' } as unknown as AuditRecord), /type must be one of/);
    await log.close();
    const stored = await records(dir);
    assert.deepEqual(stored.map((r) => (r as RequestAuditRecord).request_id), Array.from({ length: 200 }, (_, i) => `req-${i}`));
    assert.equal((stored[7] as RequestAuditRecord).principal, 'user:alice');
    assert.equal(log.healthy, true);
    await assert.rejects(log.append(request(1)), /closed/);
  });

  test('group commit: appends made while a write is in flight go out together in one write()', async () => {
    const dir = freshDir();
    const log = await AuditLog.open(auditOptions(dir));
    await log.append(request(0)); // the file exists
    let writes = 0;
    const real = fs.write;
    (fs as unknown as { write: unknown }).write = function (this: unknown, ...args: unknown[]) {
      writes++;
      return (real as unknown as (...a: unknown[]) => void).apply(this, args);
    };
    syncBuiltinESMExports();
    try {
      await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(request(i + 1))));
    } finally {
      fs.write = real;
      syncBuiltinESMExports();
    }
    assert.ok(writes >= 1 && writes <= 3, `${writes} write() calls for 500 appends`);
    await log.close();
    assert.deepEqual((await records(dir)).map((r) => r.seq), Array.from({ length: 501 }, (_, i) => i + 1));
  });

  test('a busy event loop is not a hung disk: appends made before a stall longer than the deadline still land', async () => {
    const dir = freshDir();
    const log = await AuditLog.open(auditOptions(dir, { appendTimeoutMs: 100 }));
    await log.append(request(0));
    // Three rounds: appends, then the loop held (as by large bodies parsed back to back) for 3× the
    // deadline, each at a different point of the write cycle.
    for (let round = 0; round < 3; round++) {
      const appends = Array.from({ length: 20 }, (_, i) => log.append(request(round * 20 + i + 1)));
      if (round > 0) await new Promise((r) => setImmediate(r));
      const until = performance.now() + 300;
      while (performance.now() < until); // the stall
      await Promise.all(appends);
    }
    assert.equal(log.healthy, true);
    await log.close();
    assert.equal((await records(dir)).length, 61);
  });

  test('rotation: files stay under maxFileBytes, the chain and seq continue across them', async () => {
    const dir = freshDir();
    const log = await AuditLog.open(auditOptions(dir, { maxFileBytes: 4096 }));
    for (let i = 0; i < 60; i++) await log.append(request(i));
    await Promise.all(Array.from({ length: 60 }, (_, i) => log.append(request(60 + i))));
    await log.close();
    const files = await listLogFiles(dir);
    assert.ok(files.length >= 5, `${files.length} files`);
    for (const f of files) assert.ok((await stat(f.path)).size <= 4096);
    const stored = await records(dir);
    assert.deepEqual(stored.map((r) => r.seq), Array.from({ length: 120 }, (_, i) => i + 1));
    let expectFirst = 1;
    for (const f of files) {
      const first = JSON.parse((await readFile(f.path, 'utf8')).split('\n')[0]) as StoredAuditRecord;
      assert.equal(first.seq, f.firstSeq);
      assert.equal(first.seq, expectFirst);
      expectFirst = f.firstSeq + (await readFile(f.path, 'utf8')).trimEnd().split('\n').length;
    }
    const second = JSON.parse((await readFile(files[1].path, 'utf8')).split('\n')[0]) as StoredAuditRecord;
    assert.equal(second.prev, stored[second.seq - 2].hash, "a file's first prev is the previous file's last hash");
    assert.equal((await verifyAudit(dir)).ok, true);
  });

  test('checkpoints every N records and every T ms, as events and lines, signed with Ed25519', async () => {
    const dir = freshDir();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const log = await AuditLog.open(auditOptions(dir, { signingKey: privateKey, checkpointEvery: { records: 10, ms: 50 } }));
    const events: Checkpoint[] = [];
    log.on('checkpoint', (cp) => events.push(cp));
    for (let i = 0; i < 25; i++) await log.append(request(i));
    assert.deepEqual(events.map((c) => c.seq).slice(0, 2), [10, 20]);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(events.at(-1)!.seq, 25, 'the timer seals the rest');
    const count = events.length;
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(events.length, count, 'no new checkpoint when nothing was added');
    await log.close();
    const lines = (await readFile(join(dir, 'checkpoints.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Checkpoint);
    assert.deepEqual(lines, events);
    assert.equal(events[0].sig.alg, 'ed25519');
    assert.deepEqual(events[0].files.map((f) => f.first_seq), [1]);
    assert.equal((await verifyAudit(dir, { publicKey })).ok, true);
    const unkeyed = await verifyAudit(dir);
    assert.equal(unkeyed.ok, false, 'signed checkpoints not checked is not "intact"');
    assert.deepEqual(unkeyed.findings.map((f) => f.kind), ['unverifiable']);
  });

  test('reopening continues the chain; a corrupt tail or a truncated log is refused, not restarted', async () => {
    const dir = freshDir();
    let log = await AuditLog.open(auditOptions(dir, { maxFileBytes: 2048 }));
    for (let i = 0; i < 20; i++) await log.append(request(i));
    await assert.rejects(AuditLog.open(auditOptions(dir)), /already open in this process/);
    await log.close();
    log = await AuditLog.open(auditOptions(dir, { maxFileBytes: 2048 }));
    assert.equal(log.status().seq, 20);
    for (let i = 20; i < 30; i++) await log.append(request(i));
    await log.close();
    const stored = await records(dir);
    assert.deepEqual(stored.map((r) => r.seq), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.equal(stored[20].prev, stored[19].hash);
    assert.equal((await verifyAudit(dir)).ok, true);

    // a torn last line: refuse, naming the file
    const files = await listLogFiles(dir);
    const newest = files.at(-1)!;
    const good = await readFile(newest.path, 'utf8');
    await writeFile(newest.path, good + '{"type":"request","ti');
    await assert.rejects(AuditLog.open(auditOptions(dir)), (e: unknown) => e instanceof AuditError && e.kind === 'open' && e.message.includes(newest.path) && /tail is corrupt/.test(e.message));
    // an edited last record: refuse
    await writeFile(newest.path, good.replace(/"principal":"user:alice"(?![\s\S]*"principal":"user:alice")/, '"principal":"user:eve"'));
    await assert.rejects(AuditLog.open(auditOptions(dir)), /does not match its hash/);
    // the last record removed: the checkpoint says 30, the log ends at 29
    await writeFile(newest.path, good.split('\n').slice(0, -2).join('\n') + '\n');
    await assert.rejects(AuditLog.open(auditOptions(dir)), /held 30 records but it ends at seq 29: the log was truncated/);
    await writeFile(newest.path, good);
    // a different chain mode or key
    await assert.rejects(AuditLog.open(auditOptions(dir, { hmacKey: Buffer.alloc(32, 7) })), /chained with plain sha256 but an HMAC key was given/);
    await (await AuditLog.open(auditOptions(dir))).close();
  });

  test('one writer per directory: a live writer, here or on another host, keeps it; a stale lock is taken over', async () => {
    const dir = freshDir();
    await (await AuditLog.open(auditOptions(dir))).close();
    const lock = join(dir, 'writer.lock');
    await writeFile(lock, JSON.stringify({ pid: process.ppid, host: hostname(), since: 'earlier' }));
    await assert.rejects(AuditLog.open(auditOptions(dir)), new RegExp(`held by another audit writer \\(pid ${process.ppid}`));
    await writeFile(lock, JSON.stringify({ pid: 4242, host: 'gw-2.example', since: 'earlier' }));
    await assert.rejects(AuditLog.open(auditOptions(dir)), /held by a writer on host gw-2\.example/);
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(lock, minuteAgo, minuteAgo);
    const log = await AuditLog.open(auditOptions(dir));
    assert.equal(JSON.parse(await readFile(lock, 'utf8')).pid, process.pid);
    await log.close();
    await assert.rejects(readFile(lock), /ENOENT/, 'close releases it');
  });

  test('a writer that dies without closing leaves a log the next one continues', async () => {
    const dir = freshDir();
    const moduleUrl = new URL('../../gateway/src/audit/audit-log.js', import.meta.url).href;
    const script = `
      const { AuditLog } = await import(${JSON.stringify(moduleUrl)});
      const log = await AuditLog.open(${JSON.stringify(auditOptions(dir))});
      for (let i = 0; i < 5; i++) await log.append({ type: 'admin', time: new Date().toISOString(), event: 'test.' + i, principal: 'vigil', outcome: 'ok', detail: {} });
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
    await once(child, 'exit');
    assert.ok((await readdir(dir)).includes('writer.lock'), 'the dead writer left its lock');
    const log = await AuditLog.open(auditOptions(dir));
    assert.equal(log.status().seq, 5);
    await log.append(request(6));
    await log.close();
    const stored = await records(dir);
    assert.equal(stored.length, 6);
    assert.equal(stored[5].prev, stored[4].hash);
    assert.equal((await verifyAudit(dir)).ok, true);
  });

  test('HMAC mode: hashes are keyed, checkpoints HMAC-signed, and the key is needed to open and verify', async () => {
    const dir = freshDir();
    const key = Buffer.alloc(32, 0x5a);
    const log = await AuditLog.open(auditOptions(dir, { hmacKey: key }));
    for (let i = 0; i < 5; i++) await log.append(request(i));
    await log.close();
    const stored = await records(dir);
    assert.match(stored[0].hash, /^hmac-sha256:[0-9a-f]{64}$/);
    assert.equal((await verifyAudit(dir, { hmacKey: key })).ok, true);
    const keyless = await verifyAudit(dir);
    assert.equal(keyless.ok, false);
    assert.ok(keyless.findings.every((f) => f.kind === 'unverifiable'));
    assert.equal((await verifyAudit(dir, { hmacKey: Buffer.alloc(32, 1) })).findings.filter((f) => f.kind === 'edited').length, 5);
    await assert.rejects(AuditLog.open(auditOptions(dir)), /chained with an HMAC key but none was given/);
    await assert.rejects(AuditLog.open(auditOptions(dir, { hmacKey: Buffer.alloc(32, 1) })), /written with another HMAC key/);
  });

  describe('write failures: unhealthy, loud, nothing silently dropped', () => {
    // The writer's watchdog timer does not hold the process open (the gateway's server does).
    let keepAlive: NodeJS.Timeout;
    before(() => {
      keepAlive = setInterval(() => {}, 1000);
    });
    after(() => clearInterval(keepAlive));

    test('the fd closed underneath: append rejects, healthy goes false, then a later write succeeds and says what happened', async () => {
      const dir = freshDir();
      const log = await AuditLog.open(auditOptions(dir, { retryMs: 100 }));
      const errors: AuditError[] = [];
      log.on('error', (e) => errors.push(e));
      for (let i = 0; i < 3; i++) await log.append(request(i));
      const [file] = await listLogFiles(dir);
      closeSync(fdOf(file.path));

      const outcome = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => log.append(request(100 + i))));
      assert.ok(outcome.every((o) => o.status === 'rejected'));
      assert.equal(log.healthy, false);
      assert.equal(errors.length, 1);
      assert.equal(errors[0].kind, 'write');
      assert.match(errors[0].message, /EBADF/);
      await assert.rejects(log.append(request(200)), (e: unknown) => e instanceof AuditError && e.kind === 'unavailable' && /failing closed/.test(e.message));

      const [recovery] = (await once(log, 'recovered')) as [AuditRecovery];
      assert.equal(log.healthy, true);
      assert.equal(recovery.rejected_appends, 11);
      await log.append(request(300));
      await log.close();

      const stored = await records(dir);
      assert.deepEqual(stored.map((r) => r.seq), [1, 2, 3, 4, 5]);
      assert.deepEqual(stored.map((r) => (r.type === 'request' ? r.request_id : r.type === 'admin' ? r.event : '')), ['req-0', 'req-1', 'req-2', 'audit.recovered', 'req-300']);
      const rec = stored[3];
      assert.ok(rec.type === 'admin');
      assert.equal(rec.detail.rejected_appends, 11);
      assert.match(String(rec.detail.error), /EBADF|bad file/i);
      assert.equal((await verifyAudit(dir)).ok, true);
    });

    test('the file removed underneath: detected, reported with the records lost, the chain continues in a new file and verify shows the hole', async () => {
      const dir = freshDir();
      const log = await AuditLog.open(auditOptions(dir, { retryMs: 100, watchMs: 20 }));
      const errors: AuditError[] = [];
      log.on('error', (e) => errors.push(e));
      for (let i = 0; i < 4; i++) await log.append(request(i));
      const [file] = await listLogFiles(dir);
      await unlink(file.path);
      await once(log, 'error');
      assert.equal(log.healthy, false);
      assert.match(errors[0].message, /removed.*records 1\.\.4 are gone from disk/);
      await assert.rejects(log.append(request(9)));
      const [recovery] = (await once(log, 'recovered')) as [AuditRecovery];
      assert.deepEqual(recovery.lost, { file: file.name, first_seq: 1, last_seq: 4, reason: 'the file was removed' });
      await log.append(request(10));
      await log.close();
      const stored = await records(dir);
      assert.deepEqual(stored.map((r) => r.seq), [5, 6]);
      const report = await verifyAudit(dir);
      assert.deepEqual(report.findings.map((f) => f.kind).sort(), ['deleted', 'missing-file']);
      assert.match(report.findings.find((f) => f.kind === 'deleted')!.message, /records seq 1\.\.4 \(4\) are missing/);
    });

    test('the directory removed: unhealthy until it can write again, in a recreated directory', async () => {
      const dir = freshDir();
      const log = await AuditLog.open(auditOptions(dir, { retryMs: 50, watchMs: 20 }));
      log.on('error', () => {});
      await log.append(request(1));
      await rm(dir, { recursive: true });
      await once(log, 'error');
      assert.equal(log.healthy, false);
      await once(log, 'recovered');
      await log.append(request(2));
      await log.close();
      assert.deepEqual((await records(dir)).map((r) => r.seq), [2, 3]);
    });

    test('disk full (a 64 KiB tmpfs): every append resolves on disk or rejects; partial lines are cut; it recovers when space returns', async (t) => {
      const mnt = await mkdtemp(join(tmpdir(), 'vigil-audit-full-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
      } catch {
        t.skip('cannot mount a tmpfs here (needs root)');
        await rm(mnt, { recursive: true, force: true });
        return;
      }
      let log: AuditLog | undefined;
      try {
        const dir = join(mnt, 'audit');
        await mkdir(dir);
        const filler = join(mnt, 'filler');
        await writeFile(filler, Buffer.alloc(16 * 1024));
        log = await AuditLog.open(auditOptions(dir, { retryMs: 200 }));
        const errors: AuditError[] = [];
        log.on('error', (e) => errors.push(e));
        const pad = 'x'.repeat(900);
        const settled: { id: string; ok: boolean }[] = [];
        const all: Promise<void>[] = [];
        for (let i = 0; i < 120; i++) {
          const id = `fill-${i}`;
          all.push(
            log.append(request(i, { request_id: id, source: pad })).then(
              () => void settled.push({ id, ok: true }),
              () => void settled.push({ id, ok: false }),
            ),
          );
          if (i % 8 === 7) await Promise.all(all.splice(0));
        }
        await Promise.all(all);
        assert.equal(settled.length, 120, 'every append settled');
        assert.ok(settled.some((s) => !s.ok), 'the disk filled up');
        assert.ok(errors.some((e) => e.kind === 'write' && /ENOSPC/.test(e.message)), 'reported loudly');

        await unlink(filler);
        // (a retry may already have succeeded in the space freed by cutting off a partial line)
        while (!log.healthy) await once(log, 'recovered');
        await log.append(request(999, { request_id: 'after' }));
        await log.close();
        const onDisk = (await records(dir)).filter((r) => r.type === 'request').map((r) => (r as RequestAuditRecord).request_id);
        assert.deepEqual(onDisk, [...settled.filter((s) => s.ok).map((s) => s.id), 'after'], 'exactly the resolved appends are on disk, in order');
        assert.equal((await verifyAudit(dir)).ok, true, 'no torn line left behind');
      } finally {
        await log?.close().catch(() => {});
        execFileSync('umount', ['-l', mnt]);
        await rm(mnt, { recursive: true, force: true });
      }
    });
  });
});
