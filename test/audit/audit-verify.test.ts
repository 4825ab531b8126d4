// A security team checks the log: each kind of tampering is caught with its own finding that
// names the file, line and seq; an intact log verifies; the CLI exits 0/1/2 and prints both ways.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog, type StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import type { AuditRecord } from '../../gateway/src/audit/audit-record.js';
import { canonicalEntries, canonicalJson } from '../../gateway/src/audit/canonical.js';
import { listLogFiles, sealRecord, type Checkpoint } from '../../gateway/src/audit/chain.js';
import { verifyAudit, type Finding, type VerifyReport } from '../../gateway/src/audit/verify.js';
import { auditOptions } from '../helpers/audit-options.js';
import { runCommandFunction } from '../helpers/run-node.js';


function record(i: number): AuditRecord {
  const time = new Date(Date.UTC(2025, 5, 1, 12, 0, i)).toISOString();
  if (i % 10 === 0) return { type: 'admin', time, event: 'policy.reload', principal: 'user:admin', outcome: 'ok', detail: { rules: i } };
  if (i % 13 === 0) return { type: 'alert', time, rule: 'denials', severity: 'warning', state: 'firing', labels: { principal: 'user:eve' }, value: i, baseline: 1 };
  const deny = i % 4 === 0;
  return {
    type: 'request',
    time,
    request_id: `req-${i}`,
    client_request_id: null,
    trace_id: null,
    principal: i % 3 === 0 ? 'key:ops' : 'user:alice',
    auth_method: 'jwt',
    source: '10.0.0.7',
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
    latency_ms: 2.5,
    bytes_in: 3200,
    bytes_out: 120,
    batch: 1,
  };
}

interface Line {
  file: string;
  n: number;
  text: string;
}

/** Every line of the log in order, with where it lives. */
async function lines(dir: string): Promise<Line[]> {
  const out: Line[] = [];
  for (const f of await listLogFiles(dir)) {
    const text = await readFile(f.path, 'utf8');
    text.trimEnd().split('\n').forEach((t, i) => t && out.push({ file: f.name, n: i + 1, text: t }));
  }
  return out;
}

/** Writes lines back into their files (a line's `file` decides where it goes, in array order). */
async function save(dir: string, all: Line[]): Promise<void> {
  const byFile = new Map<string, string[]>();
  for (const f of await listLogFiles(dir)) byFile.set(f.name, []);
  for (const l of all) byFile.get(l.file)!.push(l.text);
  for (const [name, ls] of byFile) await writeFile(join(dir, name), ls.map((l) => l + '\n').join(''));
}

/** A forger without the HMAC key: re-hash with plain sha256 from index `from` on, relinking prev. */
function rehash(all: Line[], from: number, prefix = 'sha256'): void {
  for (let i = from; i < all.length; i++) {
    const rec = JSON.parse(all[i].text) as StoredAuditRecord & Record<string, unknown>;
    const prev = i === 0 ? null : (JSON.parse(all[i - 1].text) as StoredAuditRecord).hash;
    const { seq, prev: _p, hash: _h, ...rest } = rec;
    let { line } = sealRecord(canonicalEntries(rest), seq, prev, undefined);
    if (prefix !== 'sha256') {
      const r = JSON.parse(line) as StoredAuditRecord;
      line = canonicalJson({ ...r, hash: r.hash.replace('sha256:', `${prefix}:`) });
    }
    all[i] = { ...all[i], text: line };
  }
}

function edit(l: Line, change: (r: Record<string, unknown>) => void): Line {
  const r = JSON.parse(l.text) as Record<string, unknown>;
  change(r);
  return { ...l, text: canonicalJson(r) };
}

const kinds = (r: VerifyReport) => r.findings.map((f) => f.kind);
const only = (r: VerifyReport, kind: Finding['kind']): Finding => {
  assert.deepEqual(kinds(r), [kind], JSON.stringify(r.findings, null, 2));
  return r.findings[0];
};

describe('audit verify', () => {
  let root: string;
  let n = 0;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const hmacKey = Buffer.from('6b'.repeat(32), 'hex');
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vigil-audit-verify-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  async function makeLog(opts: { records?: number; maxFileBytes?: number; hmacKey?: Buffer; signingKey?: KeyObject } = {}): Promise<string> {
    const dir = join(root, `log-${++n}`);
    const log = await AuditLog.open(auditOptions(dir, { maxFileBytes: opts.maxFileBytes, hmacKey: opts.hmacKey, signingKey: opts.signingKey, checkpointEvery: { records: 10, ms: 60_000 } }));
    const total = opts.records ?? 40;
    for (let i = 1; i <= total; i += 5) await Promise.all(Array.from({ length: Math.min(5, total - i + 1) }, (_, k) => log.append(record(i + k))));
    await log.close();
    return dir;
  }

  test('an untouched log verifies, in every mode', async () => {
    const plain = await verifyAudit(await makeLog({ maxFileBytes: 4096 }));
    assert.deepEqual(plain.findings, []);
    assert.equal(plain.ok, true);
    assert.equal(plain.records, 40);
    assert.ok(plain.files.length > 2);
    const keyed = await verifyAudit(await makeLog({ hmacKey, signingKey: privateKey }), { hmacKey, publicKey });
    assert.deepEqual(keyed.findings, []);
    assert.equal(keyed.mode, 'hmac-sha256');
    assert.equal(keyed.checkpoints.signature, 'ed25519');
  });

  test('an edited field: "edited", naming file, line and seq', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    all[16] = edit(all[16], (r) => (r.principal = 'user:someone-else'));
    await save(dir, all);
    const f = only(await verifyAudit(dir), 'edited');
    assert.deepEqual([f.file, f.line, f.seq], [all[16].file, 17, 17]);
    assert.match(f.message, /:17 seq 17: the content does not match its hash/);
  });

  test('an edited record re-hashed by a forger: the next record names the break', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    all[16] = edit(all[16], (r) => (r.principal = 'user:mallory'));
    rehash(all, 16); // re-hashes 17 (and the rest, which the forger then puts back)
    const original = await lines(dir);
    all.splice(17, all.length, ...original.slice(17));
    await save(dir, all);
    const f = only(await verifyAudit(dir), 'chain-break');
    assert.equal(f.seq, 18);
    assert.match(f.message, /seq 18: its prev is not the hash of seq 17 \(.*:17\)/);
  });

  test('a deleted line: "deleted", naming the missing seq and where', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    all.splice(24, 1);
    await save(dir, all);
    const f = only(await verifyAudit(dir), 'deleted');
    assert.equal(f.seq, 25);
    assert.match(f.message, /record seq 25 is missing between .*:24 \(seq 24\) and .*:25 \(seq 26\)/);
  });

  test('a forged line inserted with a proper seq, prev and sha256 hash: "inserted", naming it', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    const real = JSON.parse(all[10].text) as StoredAuditRecord;
    const prev = (JSON.parse(all[9].text) as StoredAuditRecord).hash;
    const forged = { ...(record(11) as unknown as Record<string, unknown>), principal: 'user:alibi', request_id: 'forged' };
    const { line } = sealRecord(canonicalEntries(forged), real.seq, prev, undefined);
    all.splice(10, 0, { file: all[10].file, n: 0, text: line });
    await save(dir, all);
    const f = only(await verifyAudit(dir), 'inserted');
    assert.deepEqual([f.line, f.seq], [11, 11]);
    assert.match(f.message, /:11 seq 11: not part of the chain: the next record \(.*:13\) continues from the other seq 11 at .*:12/);
  });

  test('two lines swapped: one "reordered" finding', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    [all[5], all[6]] = [all[6], all[5]];
    await save(dir, all);
    const f = only(await verifyAudit(dir), 'reordered');
    assert.deepEqual([f.line, f.seq], [7, 6]);
    assert.match(f.message, /seq 6: comes after seq 7/);
  });

  test('the tail truncated: "truncated", against the checkpoint', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    await save(dir, all.slice(0, 37));
    const f = only(await verifyAudit(dir), 'truncated');
    assert.match(f.message, /checkpoints\.jsonl:\d+ .* says the log held 40 records, but it ends at seq 37 \(.*:37\): records 38\.\.40 are missing/);
  });

  test('across a rotation boundary: a re-hashed last record of one file is named from the first line of the next; a whole file removed is named too', async () => {
    const dir = await makeLog({ maxFileBytes: 4096 });
    const files = await listLogFiles(dir);
    const all = await lines(dir);
    const lastOfFirst = all.findIndex((l, i) => l.file === files[0].name && all[i + 1]?.file === files[1].name);
    all[lastOfFirst] = edit(all[lastOfFirst], (r) => (r.time = '2020-01-01T00:00:00.000Z'));
    const tail = all.slice(lastOfFirst + 1);
    rehash(all, lastOfFirst);
    all.splice(lastOfFirst + 1, all.length, ...tail);
    await save(dir, all);
    const report = await verifyAudit(dir);
    // (a checkpoint landing on that very seq also notices the change)
    assert.ok(report.findings.every((x) => x.kind === 'chain-break' || (x.kind === 'checkpoint-mismatch' && x.seq === lastOfFirst + 1)), JSON.stringify(report.findings));
    const f = report.findings.find((x) => x.kind === 'chain-break')!;
    assert.equal(f.file, files[1].name);
    assert.equal(f.line, 1);
    assert.match(f.message, new RegExp(`its prev is not the hash of seq ${lastOfFirst + 1} \\(${files[0].name}:${all[lastOfFirst].n}\\)`));

    const dir2 = await makeLog({ maxFileBytes: 4096 });
    const files2 = await listLogFiles(dir2);
    await unlink(files2[1].path);
    const r = await verifyAudit(dir2);
    assert.deepEqual(kinds(r).sort(), ['deleted', 'missing-file']);
    assert.match(r.findings.find((x) => x.kind === 'deleted')!.message, new RegExp(`records seq ${files2[1].firstSeq}\\.\\.${files2[2].firstSeq - 1} .* are missing between ${files2[0].name}:\\d+ .* and ${files2[2].name}:1`));
    assert.match(r.findings.find((x) => x.kind === 'missing-file')!.message, new RegExp(`${files2[1].name} .*listed by the checkpoint at checkpoints\\.jsonl:\\d+, is gone`));
  });

  test('a whole tail re-hashed by a forger is caught by the checkpoints', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    all[3] = edit(all[3], (r) => (r.principal = 'user:nobody'));
    rehash(all, 3);
    await save(dir, all);
    const r = await verifyAudit(dir);
    assert.ok(r.findings.length > 0);
    assert.ok(r.findings.every((f) => f.kind === 'checkpoint-mismatch'), JSON.stringify(r.findings));
    assert.equal(r.findings[0].seq, 10);
    assert.match(r.findings[0].message, /seq 10: hashes to .* but the checkpoint at checkpoints\.jsonl:1 .* recorded/);
  });

  test('a tampered checkpoint: a signed one fails its signature; a forged one signed with another key is refused', async () => {
    const dir = await makeLog({ signingKey: privateKey });
    const cpFile = join(dir, 'checkpoints.jsonl');
    const cps = (await readFile(cpFile, 'utf8')).trimEnd().split('\n');
    const last = JSON.parse(cps.at(-1)!) as Checkpoint;
    cps[cps.length - 1] = canonicalJson({ ...last, seq: 35 }); // hide records 36..40 from a later truncation
    await writeFile(cpFile, cps.join('\n') + '\n');
    const f = only(await verifyAudit(dir, { publicKey }), 'checkpoint-signature');
    assert.deepEqual([f.file, f.line], ['checkpoints.jsonl', cps.length]);
    assert.match(f.message, /the Ed25519 signature does not verify/);

    const other = generateKeyPairSync('ed25519');
    const { signCheckpoint, checkpointSigner } = await import('../../gateway/src/audit/chain.js');
    const { sig: _s, ...body } = last;
    cps[cps.length - 1] = canonicalJson(signCheckpoint({ ...body, seq: 35 }, checkpointSigner(other.privateKey, undefined)));
    await writeFile(cpFile, cps.join('\n') + '\n');
    assert.match(only(await verifyAudit(dir, { publicKey }), 'checkpoint-signature').message, /signed by key [0-9a-f]{16}, not by the given public key/);
  });

  test('HMAC mode catches a forger who recomputes plain sha256 hashes (and one who fakes the prefix)', async () => {
    const dir = await makeLog({ hmacKey, signingKey: privateKey });
    const original = await lines(dir);
    const all = [...original];
    all[20] = edit(all[20], (r) => (r.decision = 'deny'));
    rehash(all, 20);
    await save(dir, all);
    const r = await verifyAudit(dir, { hmacKey, publicKey });
    const wrong = r.findings.filter((f) => f.kind === 'wrong-mode');
    assert.equal(wrong.length, 20);
    assert.deepEqual(r.findings.filter((f) => f.kind !== 'wrong-mode').map((f) => [f.kind, f.seq]), [['checkpoint-mismatch', 30], ['checkpoint-mismatch', 40]]);
    assert.deepEqual([r.findings[0].seq, r.findings[0].line], [21, 21]);
    assert.match(r.findings[0].message, /hashed with plain sha256 in an HMAC-chained log: forged by someone without the key/);
    // Even without the key, the switch of mode shows.
    assert.ok(kinds(await verifyAudit(dir)).includes('wrong-mode'));

    const faked = [...original];
    faked[20] = edit(faked[20], (r2) => (r2.decision = 'deny'));
    rehash(faked, 20, 'hmac-sha256');
    await save(dir, faked);
    const r2 = await verifyAudit(dir, { hmacKey, publicKey });
    assert.equal(r2.findings.filter((f) => f.kind === 'edited').length, 20);
    assert.equal(r2.findings[0].kind, 'edited');
    assert.equal(r2.findings[0].seq, 21);
  });

  test('garbage, a torn line, a replayed duplicate and a reformatted line each have their finding', async () => {
    const dir = await makeLog();
    const all = await lines(dir);
    all[2] = { ...all[2], text: all[2].text.slice(0, 40) };
    all.splice(8, 0, { ...all[7] });
    all[14] = { ...all[14], text: JSON.stringify(JSON.parse(all[14].text), null, 1).replace(/\n/g, '') };
    await save(dir, all);
    const r = await verifyAudit(dir);
    assert.deepEqual(kinds(r), ['malformed', 'duplicate', 'not-canonical']);
    assert.deepEqual(r.findings.map((f) => f.line), [3, 9, 15]);
  });

  describe('vigil audit verify (command)', () => {
    const cmd = new URL('../../gateway/src/commands/audit-verify.js', import.meta.url).href;
    const cli = (dir: string, opts: object) => runCommandFunction(cmd, 'auditVerifyCommand', [dir, opts]);

    test('exit 0 and INTACT; exit 1 with every finding, readable and --json; exit 2 when it cannot check', async () => {
      const dir = await makeLog({ hmacKey, signingKey: privateKey });
      const keyFile = join(root, 'hmac.key');
      const pubFile = join(root, 'audit.pub.pem');
      await writeFile(keyFile, hmacKey.toString('hex') + '\n');
      await writeFile(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
      const good = await cli(dir, { hmacKeyFile: keyFile, publicKeyFile: pubFile });
      assert.equal(good.code, 0, good.stdout + good.stderr);
      assert.match(good.stdout, /records +40 \(seq 1\.\.40\) in 1 file\(s\), chained with hmac-sha256/);
      assert.match(good.stdout, /signed ed25519; latest: seq 40/);
      assert.match(good.stdout, /^INTACT/m);

      const nokey = await cli(dir, {});
      assert.equal(nokey.code, 1);
      assert.match(nokey.stdout, /^NOT VERIFIED: 2 finding/m);
      assert.match(nokey.stdout, /pass --hmac-key-file/);

      const all = await lines(dir);
      all[4] = edit(all[4], (r) => (r.status = 500));
      all.splice(30, 1);
      await save(dir, all);
      const bad = await cli(dir, { hmacKeyFile: keyFile, publicKeyFile: pubFile });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /^TAMPERING OR DAMAGE FOUND: 2 finding/m);
      assert.match(bad.stdout, /edited +audit-000000000001-.*\.jsonl:5 seq 5/);
      assert.match(bad.stdout, /deleted +record seq 31 is missing/);
      const json = await cli(dir, { hmacKeyFile: keyFile, publicKeyFile: pubFile, json: true });
      assert.equal(json.code, 1);
      const report = JSON.parse(json.stdout) as VerifyReport;
      assert.deepEqual(report.findings.map((f) => [f.kind, f.seq]), [['edited', 5], ['deleted', 31]]);

      assert.equal((await cli(join(root, 'nope'), {})).code, 2);
      await writeFile(join(root, 'short.key'), 'abcd');
      const shortKey = await cli(dir, { hmacKeyFile: join(root, 'short.key') });
      assert.equal(shortKey.code, 2);
      assert.match(shortKey.stderr, /at least 32/);
    });
  });
});
