// A log that lives long (issue 11, item 7). Before: every checkpoint listed every file ever
// written (1.2 KB a line after 10 minutes, ~137 KB a line projected after a day), and nothing
// ever removed old files. Now each checkpoint names the one before and lists only what changed;
// retention removes the oldest sealed files, recording each removal first, so that verify tells a
// documented removal from a deleted file.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog, type AuditLogOptions, type StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import type { AdminAuditRecord, RequestAuditRecord } from '../../gateway/src/audit/audit-record.js';
import { canonicalJson } from '../../gateway/src/audit/canonical.js';
import { checkpointSigner, listLogFiles, signCheckpoint, type Checkpoint, type CheckpointFile } from '../../gateway/src/audit/chain.js';
import { verifyAudit, type VerifyReport } from '../../gateway/src/audit/verify.js';
import { auditOptions } from '../helpers/audit-options.js';
import { auditRecords, requestRecord } from '../helpers/audit-records.js';
import { runVigil } from '../helpers/run-node.js';
import { rawRequest, startTestVigil } from '../helpers/vigil-harness.js';

function request(i: number): RequestAuditRecord {
  return requestRecord({ request_id: `req-${i}` });
}

async function checkpointLines(dir: string): Promise<string[]> {
  return (await readFile(join(dir, 'checkpoints.jsonl'), 'utf8')).trimEnd().split('\n');
}

async function logBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await listLogFiles(dir)) total += (await stat(f.path)).size;
  return total;
}

const kinds = (r: VerifyReport) => r.findings.map((f) => f.kind).sort();

describe('hostile: checkpoints and retention over a long-lived log', () => {
  let root: string;
  let n = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vigil-hostile-checkpoints-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function write(records: number, opts: Partial<AuditLogOptions> = {}, dir = join(root, `log-${++n}`)): Promise<string> {
    const log = await AuditLog.open(auditOptions(dir, { maxFileBytes: 4096, checkpointEvery: { records: 10, ms: 60_000 }, ...opts }));
    for (let i = 0; i < records; i += 10) await Promise.all(Array.from({ length: Math.min(10, records - i) }, (_, k) => log.append(request(i + k))));
    await log.close();
    return dir;
  }

  test('checkpoint lines stay small however many files the log has, and still catch a deleted file and a removed checkpoint', async () => {
    const dir = await write(2_000);
    const files = await listLogFiles(dir);
    assert.ok(files.length > 150, `${files.length} files`);
    const lines = await checkpointLines(dir);
    assert.ok(lines.length >= 200, `${lines.length} checkpoints`);
    const longest = Math.max(...lines.map((l) => Buffer.byteLength(l)));
    assert.ok(longest < 600, `the longest checkpoint line is ${longest} bytes with ${files.length} files`);
    assert.deepEqual((await verifyAudit(dir)).findings, []);
    // A writer reopened on it does not list every file again either.
    await write(20, {}, dir);
    const reopened = (await checkpointLines(dir)).slice(lines.length);
    assert.ok(reopened.length > 0 && reopened.every((l) => Buffer.byteLength(l) < 600), reopened.map((l) => Buffer.byteLength(l)).join(' '));
    assert.deepEqual((await verifyAudit(dir)).findings, []);

    await unlink(files[80].path);
    const gone = await verifyAudit(dir);
    assert.deepEqual(kinds(gone), ['deleted', 'missing-file']);
    assert.match(gone.findings.find((f) => f.kind === 'missing-file')!.message, new RegExp(`${files[80].name} .* is gone, and no retention record accounts for it`));

    const dir2 = await write(200);
    const cps = await checkpointLines(dir2);
    cps.splice(9, 1); // a checkpoint removed from the middle of the file
    await writeFile(join(dir2, 'checkpoints.jsonl'), cps.join('\n') + '\n');
    const cut = await verifyAudit(dir2);
    assert.deepEqual(kinds(cut), ['checkpoint-chain']);
    assert.match(cut.findings[0].message, /checkpoints\.jsonl:10 .*its prev_checkpoint is not the checkpoint at line 9/);
  });

  test('a log with old-style checkpoints (every file, no links) still verifies, and a new writer continues it', async () => {
    const dir = await write(300);
    // Rewrite its checkpoints the way earlier versions wrote them.
    const union = new Map<string, CheckpointFile>();
    const old = (await checkpointLines(dir)).map((l) => {
      const { sig: _sig, prev_checkpoint: _prev, files, ...body } = JSON.parse(l) as Checkpoint;
      for (const f of files) union.set(f.name, f);
      return canonicalJson(signCheckpoint({ ...body, files: [...union.values()] }, checkpointSigner(undefined, undefined)));
    });
    await writeFile(join(dir, 'checkpoints.jsonl'), old.join('\n') + '\n');
    assert.deepEqual((await verifyAudit(dir)).findings, []);
    await write(300, {}, dir);
    const lines = await checkpointLines(dir);
    assert.ok(lines.length > old.length);
    assert.deepEqual((await verifyAudit(dir)).findings, []);
    await unlink((await listLogFiles(dir))[3].path);
    assert.deepEqual(kinds(await verifyAudit(dir)), ['deleted', 'missing-file']);
  });

  test('retention by size removes the oldest sealed files, records each removal, and verify calls the log intact', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const hmacKey = Buffer.alloc(32, 9);
    const maxBytes = 16 * 1024;
    const dir = await write(1_000, { retention: { maxBytes }, hmacKey, signingKey: privateKey });
    const files = await listLogFiles(dir);
    assert.ok(files[0].firstSeq > 1, 'the oldest files are gone');
    // Retention runs after each checkpoint: the log holds max_bytes, plus the current file, plus the records since.
    assert.ok((await logBytes(dir)) <= maxBytes + 2 * 4096, `${await logBytes(dir)} bytes left`);

    const stored = await auditRecords(dir);
    const runs = stored.filter((r): r is StoredAuditRecord & AdminAuditRecord => r.type === 'admin' && r.event === 'audit.retention');
    assert.ok(runs.length > 0);
    const last = runs.at(-1)!.detail as { files: { name: string }[]; from_seq: number; through_seq: number; last_hash: string; reasons: string[] };
    assert.equal(last.from_seq, 1);
    assert.equal(last.through_seq, files[0].firstSeq - 1, 'the latest record accounts for everything before the oldest file kept');
    assert.equal(last.last_hash, stored[0].prev, 'and the first record kept chains from the last one removed');
    assert.deepEqual(last.reasons, ['max_bytes']);
    for (const run of runs) for (const f of (run.detail as { files: { name: string }[] }).files) assert.ok(!files.some((x) => x.name === f.name), `${f.name} was recorded as removed`);

    const keyFile = join(root, 'hmac.key');
    const pubFile = join(root, 'signing.pub.pem');
    await writeFile(keyFile, hmacKey.toString('hex'));
    await writeFile(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
    const verified = await runVigil(['audit', 'verify', dir, '--hmac-key-file', keyFile, '--public-key-file', pubFile]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^INTACT/m);
    assert.match(verified.stdout, new RegExp(`note: records seq 1\\.\\.${files[0].firstSeq - 1} \\(\\d+\\) were removed by retention, as the audit\\.retention record at .* documents`));

    // A file deleted by hand, with no record: still tampering.
    await unlink(files[0].path);
    const tampered = await runVigil(['audit', 'verify', dir, '--hmac-key-file', keyFile, '--public-key-file', pubFile, '--json']);
    assert.equal(tampered.code, 1);
    const report = JSON.parse(tampered.stdout) as VerifyReport;
    assert.deepEqual(kinds(report), ['deleted', 'missing-file']);
    assert.match(report.findings.find((f) => f.kind === 'deleted')!.message, new RegExp(`records seq ${files[0].firstSeq}\\.\\.${files[1].firstSeq - 1} .* are missing between those removed by retention`));
  });

  test('retention by age, and a writer reopened on a retained log carries the removed prefix on', async () => {
    const dir = await write(300, { retention: { maxAgeMs: 1 } });
    const firstKept = (await listLogFiles(dir))[0].firstSeq;
    assert.ok(firstKept > 1);
    await write(300, { retention: { maxAgeMs: 1 } }, dir);
    const stored = await auditRecords(dir);
    assert.ok(stored[0].seq > firstKept, 'the second writer removed files too');
    // (earlier retention records went with the files that held them; the latest carries the whole prefix)
    const runs = stored.filter((r): r is StoredAuditRecord & AdminAuditRecord => r.type === 'admin' && r.event === 'audit.retention');
    assert.ok(runs.length > 0);
    assert.ok(runs.every((r) => (r.detail.reasons as string[]).includes('max_age')));
    assert.equal(runs.at(-1)!.detail.from_seq, 1, 'the reopened writer continued the removed prefix from seq 1');
    const report = await verifyAudit(dir);
    assert.deepEqual(report.findings, []);
    assert.ok(report.notes.some((x) => /were removed by retention/.test(x)));
  });

  test('the gateway takes audit.retention from its config', async () => {
    const dir = join(root, 'gateway-audit');
    const vigil = await startTestVigil({ audit: { dir, max_file_bytes: 4096, checkpoint_every_records: 5, retention: { max_bytes: 8192 } } });
    try {
      for (let i = 0; i < 80; i++) assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/live')).status, 200);
    } finally {
      await vigil.stop();
    }
    const runs = (await auditRecords(dir)).filter((r) => r.type === 'admin' && r.event === 'audit.retention');
    assert.ok(runs.length > 0, 'retention ran');
    assert.ok((await listLogFiles(dir))[0].firstSeq > 1);
    assert.deepEqual((await verifyAudit(dir)).findings, []);
  });
});
