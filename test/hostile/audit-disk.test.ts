// An audit disk that hangs (issue 11, item 6). Before: with the audit filesystem frozen for 20 s
// every request hung 20 s, readiness stayed green and nothing was logged; with the disk full,
// inferences still ran on the pool before being refused. The disk here is a real ext4 image,
// loop-mounted and frozen with fsfreeze (root only; skipped, not passed, elsewhere).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inferRequest } from '../helpers/heldout.js';
import { total } from '../helpers/prom-text.js';
import { spawnVigil, type VigilProcess } from '../helpers/vigil-process.js';
import { postJson, rawRequest } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

/** A loop-mounted ext4 of our own to freeze; null (with why) where this machine cannot. */
async function freezableDisk(): Promise<{ mount: string; cleanup: () => Promise<void> } | string> {
  if (process.getuid?.() !== 0) return 'needs root (mount, fsfreeze)';
  const dir = await mkdtemp(join(tmpdir(), 'vigil-frozen-'));
  const image = join(dir, 'disk.img');
  const mount = join(dir, 'mnt');
  try {
    execFileSync('truncate', ['-s', '32M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'ignore' });
    execFileSync('mkdir', ['-p', mount]);
    execFileSync('mount', ['-o', 'loop', image, mount], { stdio: 'ignore' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return `cannot loop-mount an ext4 image here (${(err as Error).message.split('\n')[0]})`;
  }
  return {
    mount,
    cleanup: async () => {
      try {
        execFileSync('fsfreeze', ['-u', mount], { stdio: 'ignore' });
      } catch {
        // not frozen
      }
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const disk = await freezableDisk();

describe('hostile: the audit disk hangs (fsfreeze)', { skip: typeof disk === 'string' ? disk : false }, () => {
  const { mount, cleanup } = disk as Exclude<typeof disk, string>;
  let vigil: VigilProcess;
  let frozen = false;
  const freeze = () => {
    execFileSync('fsfreeze', ['-f', mount]);
    frozen = true;
  };
  const thaw = () => {
    if (frozen) execFileSync('fsfreeze', ['-u', mount]);
    frozen = false;
  };
  before(async () => {
    vigil = await spawnVigil({ VIGIL_AUDIT_DIR: join(mount, 'audit') });
  });
  after(async () => {
    thaw();
    vigil.child.kill('SIGTERM');
    await vigil.exited;
    await cleanup();
  });

  test('requests fail closed within the append deadline, the gateway goes unready, liveness stays up, one log line per outage, and all recovers', async () => {
    const analyst = await vigil.auth(['analyst'], 'steady');
    const ok = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), analyst);
    assert.equal(ok.status, 200);
    const ranBefore = await inferencesRun(vigil);
    freeze();
    try {
      const started = Date.now();
      const first = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [1]), analyst);
      const took = Date.now() - started;
      assert.equal(first.status, 503);
      assert.equal(first.json.code, 'AUDIT_UNAVAILABLE');
      assert.ok(took < 4_000, `the first request waited ${took} ms (deadline 2 s)`);
      // From now on, refused at once and before anything runs on a pool.
      for (let i = 0; i < 20; i++) {
        const t = Date.now();
        const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [i]), analyst);
        assert.equal(r.status, 503);
        assert.equal(r.json.code, 'AUDIT_UNAVAILABLE');
        assert.ok(Date.now() - t < 500, `request ${i} took ${Date.now() - t} ms while the log is known to be failing`);
      }
      assert.equal((await rawRequest(vigil.adminPort, 'GET', '/readyz')).status, 503, 'unready while the audit log cannot be written');
      assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/ready')).status, 503);
      const live = await rawRequest(vigil.port, 'GET', '/v2/health/live');
      assert.equal(live.status, 200, 'liveness must not depend on the audit disk');
      assert.equal((await rawRequest(vigil.adminPort, 'GET', '/livez')).status, 200);
      assert.ok((await inferencesRun(vigil)) - ranBefore <= 1, 'at most the request in flight at the freeze reached a pool');
    } finally {
      thaw();
    }
    await waitFor('the gateway to serve again after the thaw', async () => (await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [2]), analyst)).status === 200, 10_000, 100);
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/readyz')).status, 200);
    const failing = vigil.logs.filter((l) => typeof l.msg === 'string' && /AUDIT LOG FAILING/.test(l.msg));
    assert.equal(failing.length, 1, 'one log line for the outage, not one per request');
    assert.ok(vigil.logs.some((l) => l.msg === 'audit log writable again'));
    assert.ok(!vigil.logs.some((l) => /AUDIT WRITE FAILED/.test(String(l.msg))), 'no per-request error lines');
  });
});

/** Inferences that reached a pool (answered or failed), from the metrics. */
async function inferencesRun(vigil: VigilProcess): Promise<number> {
  return total((await rawRequest(vigil.adminPort, 'GET', '/metrics')).text, 'vigil_inference_requests_total');
}
