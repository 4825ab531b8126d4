// The audit CLI against hostile log contents (issue 11, item 15). Before: `vigil audit verify`
// crashed on a 600 MB line (RangeError) and on a 10,000-deep line (stack overflow) instead of
// reporting them, and `vigil audit query` printed stored fields raw, so a `sub` holding a newline
// and ANSI escapes forged a row of its table. Here the long line is 5 MB, over the 1 MiB bound.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog, type StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import type { AuditRecord, RequestAuditRecord } from '../../gateway/src/audit/audit-record.js';
import { canonicalEntries, canonicalJson } from '../../gateway/src/audit/canonical.js';
import { listLogFiles, sealRecord } from '../../gateway/src/audit/chain.js';
import type { VerifyReport } from '../../gateway/src/audit/verify.js';
import { auditOptions } from '../helpers/audit-options.js';
import { requestRecord } from '../helpers/audit-records.js';
import { runVigil } from '../helpers/run-node.js';

function request(i: number, o: Partial<RequestAuditRecord> = {}): RequestAuditRecord {
  return requestRecord({ time: new Date(Date.UTC(2025, 5, 1, 12, 0, i)).toISOString(), request_id: `req-${i}`, ...o });
}

async function makeLog(dir: string, records: AuditRecord[]): Promise<string> {
  const log = await AuditLog.open(auditOptions(dir, { checkpointEvery: { records: 1000, ms: 60_000 } }));
  for (const r of records) await log.append(r);
  await log.close();
  return (await listLogFiles(dir))[0].path;
}

describe('hostile: vigil audit verify and query against crafted lines', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vigil-hostile-verify-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('a 5 MB line and a 10,000-deep line are reported as malformed, and verifying goes on past them', async () => {
    const dir = join(root, 'damaged');
    const file = await makeLog(dir, Array.from({ length: 40 }, (_, i) => request(i + 1)));
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    const at = (seq: number) => JSON.parse(lines[seq - 1]) as StoredAuditRecord;
    // Line 12: a record whose seq, prev and hash are all right, but 5 MB long: no writer wrote it.
    const huge = sealRecord(canonicalEntries(request(12, { principal: `user:${'x'.repeat(5 * 1024 * 1024)}` })), 12, at(11).hash, undefined);
    lines[11] = huge.line;
    // Line 23: nested 10,000 deep, with a plausible seq and a hash that does not match.
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    lines[22] = `{"detail":${deep},"event":"x","hash":"sha256:${'0'.repeat(64)}","outcome":"ok","prev":"${at(22).hash}","principal":"p","seq":23,"time":"2025-06-01T12:00:23.000Z","type":"admin"}`;
    // Line 34: an ordinary edit, after both: still found.
    lines[33] = canonicalJson({ ...at(34), principal: 'user:mallory' });
    await writeFile(file, lines.join('\n') + '\n');

    const json = await runVigil(['audit', 'verify', dir, '--json']);
    assert.equal(json.code, 1, json.stderr);
    const report = JSON.parse(json.stdout) as VerifyReport;
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.line, f.seq]),
      [
        ['malformed', 12, null],
        ['malformed', 23, null],
        ['edited', 34, 34],
      ],
    );
    assert.match(report.findings[0].message, /:12: the line is \d+ bytes, longer than any record \(1048576 bytes at most\)/);
    assert.match(report.findings[1].message, /:23: the line nests deeper than any record \(32 levels at most\)/);
    assert.equal(report.records, 38, 'every other line was read and checked');
    assert.equal(report.last_seq, 40);

    const text = await runVigil(['audit', 'verify', dir]);
    assert.equal(text.code, 1, text.stderr);
    assert.match(text.stdout, /^TAMPERING OR DAMAGE FOUND: 3 finding\(s\)/m);

    // The query reads past them too, and says it skipped them.
    const query = await runVigil(['audit', 'query', dir, '--json']);
    assert.equal(query.code, 0, query.stderr);
    assert.equal(query.stdout.trimEnd().split('\n').length, 38);
    assert.match(query.stderr, /2 unreadable line\(s\) skipped/);
  });

  test('vigil audit query shows control characters in stored fields as escapes: no forged rows, no terminal escapes', async () => {
    const dir = join(root, 'forged-row');
    // Short enough to fit its column (48 characters) once escaped, so the whole value shows.
    const forged = 'user:eve\nFAKE ROW\x1b[2K\x1b[1A\r\u202e';
    await makeLog(dir, [request(1), request(2, { principal: forged, model: 'mn\x07ist\x9b' }), request(3)]);
    const { code, stdout, stderr } = await runVigil(['audit', 'query', dir]);
    assert.equal(code, 0, stderr);
    const rows = stdout.trimEnd().split('\n');
    assert.equal(rows.length, 4, `a header and three rows:\n${stdout}`);
    assert.doesNotMatch(stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'no control character reaches the terminal');
    assert.ok(rows[2].includes('user:eve\\nFAKE ROW\\x1b[2K\\x1b[1A\\r\\u202e '), rows[2]);
    assert.ok(rows[2].includes(' mn\\x07ist\\x9b/1 '), rows[2]);
  });
});
