import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inferRequest } from '../helpers/heldout.js';
import { total } from '../helpers/prom-text.js';
import { runVigil } from '../helpers/run-node.js';
import { postJson, rawRequest, startTestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

describe('the audit log fails closed', () => {
  test('a full disk: no record, no answer (503 AUDIT_UNAVAILABLE, unready), and service resumes when space returns', async (t) => {
    const mnt = await mkdtemp(join(tmpdir(), 'vigil-audit-tmpfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      t.skip('cannot mount a tmpfs here (needs root): the disk-full path is untested on this machine');
      await rm(mnt, { recursive: true, force: true });
      return;
    }
    const vigil = await startTestVigil({ audit: { dir: join(mnt, 'audit') } });
    try {
      const headers = await vigil.auth(['analyst']);
      const infer = () => postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers);
      assert.equal((await infer()).status, 200);

      // Fill the disk to the last byte.
      const filler = join(mnt, 'filler');
      try {
        await writeFile(filler, Buffer.alloc(512 * 1024));
      } catch {
        // ENOSPC once it is full: that is the point
      }
      const refused = (await waitFor('the audit write to fail', async () => {
        const r = await infer();
        return r.status === 503 ? r : undefined;
      }, 5_000));
      assert.equal(refused.json.code, 'AUDIT_UNAVAILABLE');
      assert.ok(!('outputs' in refused.json), 'no inference result leaves without its record');
      // Once the log is known to be failing, nothing runs on a pool only to be refused after.
      const ran = async () => total((await rawRequest(vigil.adminPort, 'GET', '/metrics')).text, 'vigil_inference_requests_total');
      const ranBefore = await ran();
      for (let i = 0; i < 5; i++) assert.equal((await infer()).json.code, 'AUDIT_UNAVAILABLE');
      assert.equal(await ran(), ranBefore, 'an inference ran on a pool while the audit log was failing');
      const admin = { ...(await vigil.auth(['admin'], 'ops')) };
      assert.equal((await rawRequest(vigil.adminPort, 'GET', '/readyz')).status, 503);
      assert.equal((await rawRequest(vigil.adminPort, 'GET', '/status', { headers: admin })).json?.audit ?? 'FAILING', 'FAILING');

      await rm(filler, { force: true });
      await waitFor('service to resume once space returns', async () => (await infer()).status === 200, 10_000, 200);
      assert.equal((await rawRequest(vigil.adminPort, 'GET', '/readyz')).status, 200);
    } finally {
      await vigil.stop();
      execFileSync('umount', ['-l', mnt]);
      await rm(mnt, { recursive: true, force: true });
    }
  });

  test('a log written with an HMAC key verifies with that key file, and not without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-hmac-'));
    const keyFile = join(dir, 'audit.key');
    await writeFile(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    const auditDir = join(dir, 'audit'); // outside the harness's scratch dir, which stop() removes
    const vigil = await startTestVigil({ audit: { dir: auditDir, hmac_key_file: keyFile } });
    try {
      const headers = await vigil.auth(['analyst']);
      for (let i = 0; i < 3; i++) await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [i]), headers);
      await rawRequest(vigil.port, 'GET', '/v2/models/mnist'); // a refusal, audited too
    } finally {
      await vigil.stop();
    }
    assert.equal((await runVigil(['audit', 'verify', auditDir, '--hmac-key-file', keyFile])).code, 0);
    const withoutKey = await runVigil(['audit', 'verify', auditDir]);
    assert.equal(withoutKey.code, 1, 'an HMAC-chained log is not "intact" to someone without the key');
    await rm(dir, { recursive: true, force: true });
  });
});
