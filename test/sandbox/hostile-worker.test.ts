import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import type { AttackPlan } from '../fixtures/hostile-worker.js';
import { inferRequest } from '../helpers/heldout.js';
import { cgroupSkip, makeNetns, netnsSkip, sandboxSkip, type TestNetns } from '../helpers/sandbox.js';
import { BUNDLED_POLICY, copyOfModels, postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

// A worker that runs attacker code (as a model file exploiting ONNX Runtime would) inside the
// sandbox vigil gives every worker: model `digits` runs it, `mnist` is the bystander that must
// keep serving. The same worker in process mode is the control: it shows what the sandbox takes away.

const HOSTILE = fileURLToPath(new URL('../fixtures/hostile-worker.js', import.meta.url));
const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));

/** POST to the hostile worker's own socket. */
function ask(vigil: TestVigil, path: string, body = '', timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(vigil.runtimeDir, 'digits.1.0', 'pool.sock'), method: 'POST', path, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
      res.on('error', () => resolve(text));
    });
    req.on('error', (e) => (path === '/eat-memory' ? resolve('') : reject(e)));
    req.end(body);
  });
}

async function hostileVigil(isolation: 'sandbox' | 'process', resources: string): Promise<{ vigil: TestVigil; repo: Awaited<ReturnType<typeof copyOfModels>> }> {
  const repo = await copyOfModels();
  const yaml = join(repo.dir, 'digits', '1', 'model.yaml');
  await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/^pool:\n/m, `pool:\n  resources: ${resources}\n`));
  const vigil = await startTestVigil({ models: { repository: repo.dir }, pools: { isolation } }, { workerMain: (model) => (model === 'digits' ? HOSTILE : undefined) });
  return { vigil, repo };
}

async function plan(vigil: TestVigil, repoDir: string, netns: TestNetns | null): Promise<AttackPlan> {
  const stateFiles = (await readdir(vigil.config.auth.state_dir)).map((f) => join(vigil.config.auth.state_dir, f));
  const p: AttackPlan = {
    connect: [`127.0.0.1:${vigil.port}`, `127.0.0.1:${vigil.adminPort}`, ...(netns ? [`${netns.address}:7777`] : [])],
    read: [...stateFiles, BUNDLED_POLICY, join(repoDir, 'mnist', '1', 'model.onnx'), '/etc/passwd'],
    // Its own socket's path last: replacing it with a link would send the gateway elsewhere.
    write: [join(repoDir, 'digits', '1', 'pwned'), join(PROJECT, 'dist', 'pwned'), `/tmp/vigil-pwned-${process.pid}`, join(vigil.runtimeDir, 'digits.1.0', 'pool.sock')],
    sockets: [join(vigil.runtimeDir, 'mnist.1.0', 'pool.sock')],
  };
  return p;
}

describe('a hostile worker in the sandbox', { skip: sandboxSkip }, () => {
  let vigil: TestVigil;
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  let netns: TestNetns | null = null;
  let listener: { kill(): void } | undefined;
  let headers: Record<string, string>;

  before(async () => {
    ({ vigil, repo } = await hostileVigil('sandbox', '{ memory_mb: 192, pids: 48 }'));
    headers = await vigil.auth(['admin'], 'ops');
    if (!netnsSkip()) {
      netns = makeNetns(process.pid);
      listener = netns.exec([process.execPath, '-e', `require('net').createServer((s) => s.end('hi')).listen(7777, '${netns.address}')`]);
    }
  });
  after(async () => {
    listener?.kill();
    netns?.remove();
    await vigil?.stop();
    await repo?.cleanup();
  });

  test('it reaches no network, no file and no socket but its own, and sees no other process; the other model keeps serving', async () => {
    const targets = await plan(vigil, repo.dir, netns);
    if (netns) {
      // The control: from the host, the namespace's listener answers; only the sandbox is cut off.
      await waitFor('the listener in the test namespace', async () => {
        const { connect } = await import('node:net');
        return new Promise<boolean>((resolve) => connect(7777, netns!.address).once('connect', () => resolve(true)).once('error', () => resolve(false)));
      });
    }
    const report = JSON.parse(await ask(vigil, '/attack', JSON.stringify(targets))) as Record<string, string>;
    for (const t of targets.connect) assert.notEqual(report[`connect ${t}`], 'CONNECTED', `connect ${t}`);
    // seccomp refuses every socket family but AF_UNIX, before the empty network namespace would.
    for (const t of targets.connect) assert.equal(report[`connect ${t}`], 'EAFNOSUPPORT', `connect ${t}`);
    for (const f of targets.read) assert.equal(report[`read ${f}`], 'ENOENT', `read ${f}: not even there`);
    assert.match(report[`write ${targets.write[0]}`], /^(EROFS|ENOENT)$/, 'its model directory is not writable (not even there: the model comes open)');
    assert.match(report['write /proc/sys/kernel/core_pattern'], /^(EROFS|EACCES|ENOENT)$/, 'no host-wide kernel knob');
    if (process.getuid?.() === 0) assert.equal(report.uid, '65534', 'vigil runs as root here: its workers do not');
    assert.match(report[`write ${targets.write[1]}`], /^(EROFS|ENOENT)$/, "vigil's code is read-only");
    assert.equal(report[`write ${targets.write[2]}`], 'OK', 'it has a /tmp of its own…');
    assert.equal(existsSync(targets.write[2]), false, '…which is not the host\'s');
    assert.equal(report[`socket ${targets.sockets[0]}`], 'ENOENT', "another pool's socket is not there");
    assert.equal(report[`write ${targets.write[3]}`], 'ENOENT', 'nor its own socket\'s path: it was handed the socket, listening');
    assert.ok(Number(report['processes visible']) <= 3, `sees ${report['processes visible']} processes: its own namespace`);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), headers)).status, 200);
  });

  test('a flood into the pipe the gateway watches it by stays in the kernel\'s small buffer: the gateway keeps serving', async () => {
    const result = JSON.parse(await ask(vigil, '/flood-watch-pipe')) as { written: number; stopped: string };
    assert.ok(result.written < 8 * 1024 * 1024, `${result.written} bytes accepted before the pipe was full`);
    assert.equal(result.stopped, 'EAGAIN');
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), headers)).status, 200);
  });

  test('a fork bomb stops at the pool\'s pids limit; the other model keeps serving', { skip: cgroupSkip }, async () => {
    const result = JSON.parse(await ask(vigil, '/fork-bomb')) as { spawned: number; refused: string };
    assert.ok(result.spawned < 48, `${result.spawned} processes started under pids: 48`);
    assert.equal(result.refused, 'EAGAIN');
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), headers)).status, 200);
  });

  test('eating memory past memory_mb gets it OOM-killed, reported as OOM (status, metric, audit), and restarted; the other model keeps serving', { skip: cgroupSkip }, async () => {
    const eaten = await ask(vigil, '/eat-memory');
    assert.doesNotMatch(eaten, /still alive/);
    const status = await waitFor('the OOM on /status', async () => {
      const s = await rawRequest(vigil.adminPort, 'GET', '/status', { headers });
      const digits = s.json.models.find((m: { model: string }) => m.model === 'digits');
      return /^OOM/.test(digits.workers[0].reason ?? '') ? digits : undefined;
    });
    assert.match(status.workers[0].reason, /memory limit/);
    const metrics = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    assert.match(metrics, /vigil_pool_oom_kills_total\{[^}]*model="digits"[^}]*\} 1\b/);
    let audited = false;
    for await (const r of queryAudit(vigil.config.audit.dir)) if (r.type === 'admin' && r.event === 'pool.oom') audited = (r.detail as { memory_mb: number }).memory_mb === 192;
    assert.ok(audited, 'a pool.oom audit record naming the limit');
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), headers)).status, 200);
    await waitFor('the worker restarted', async () => (await rawRequest(vigil.port, 'GET', '/v2/models/digits/ready', { headers })).status === 200, 10_000, 50);
  });

  test('/status and the metric say the pools are sandboxed, with limits and seccomp', async () => {
    const s = await rawRequest(vigil.adminPort, 'GET', '/status', { headers });
    assert.equal(s.json.isolation.mode, 'sandbox');
    assert.equal(s.json.isolation.seccomp, true);
    const metrics = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    assert.match(metrics, /vigil_pool_isolation\{[^}]*mode="sandbox"[^}]*\} 1\b/);
  });
});

describe('the same hostile worker as a plain process (pools.isolation: process): what the sandbox takes away', { skip: sandboxSkip }, () => {
  let vigil: TestVigil;
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  before(async () => {
    ({ vigil, repo } = await hostileVigil('process', '{ memory_mb: 192 }'));
  });
  after(async () => {
    await vigil?.stop();
    await repo?.cleanup();
  });

  test("it reads the gateway's signing key and the policy, reaches the gateway's ports and another pool's socket", async () => {
    const targets = await plan(vigil, repo.dir, null);
    targets.write.pop(); // its socket: clobbering it would only stop this worker
    const report = JSON.parse(await ask(vigil, '/attack', JSON.stringify(targets))) as Record<string, string>;
    for (const f of targets.write) await rm(f, { force: true }); // what the control wrote
    assert.equal(report[`read ${targets.read[0]}`], 'OK', 'the signing key');
    assert.equal(report[`read ${BUNDLED_POLICY}`], 'OK');
    assert.equal(report[`connect 127.0.0.1:${vigil.port}`], 'CONNECTED');
    assert.equal(report[`socket ${targets.sockets[0]}`], 'CONNECTED');
    const s = await rawRequest(vigil.adminPort, 'GET', '/status', { headers: await vigil.auth(['admin'], 'ops') });
    assert.deepEqual([s.json.isolation.mode, s.json.isolation.limits], ['process', 'none']);
  });
});
