// The way back from quarantine (issue 11, items 4 and 5). Before: a quarantined pool stayed down
// until vigil restarted, spawn failures that were the gateway's own (EMFILE) counted towards
// quarantine as "exited with status 127", and one quarantined model made the gateway unready.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChildProcessLauncher } from '../../serving/src/supervisor/child-process-launcher.js';
import type { LaunchedProcess, Launcher, LaunchSpec } from '../../serving/src/supervisor/launcher.js';
import { auditRecords } from '../helpers/audit-records.js';
import { inferRequest } from '../helpers/heldout.js';
import { runVigil } from '../helpers/run-node.js';
import { postJson, rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

/** The real launcher, except that digits' worker crashes at start while `broken`, or cannot even be spawned while `spawnError` is set. */
class FaultyLauncher implements Launcher {
  broken = false;
  spawnError: string | undefined;
  launches = 0;
  private readonly inner = new ChildProcessLauncher();
  launch(spec: LaunchSpec): LaunchedProcess {
    if (!spec.id.startsWith('digits/')) return this.inner.launch(spec);
    this.launches++;
    if (this.spawnError) return { pid: undefined, exited: Promise.resolve({ code: null, signal: null, spawnError: this.spawnError }), kill: () => undefined };
    if (this.broken) return this.inner.launch({ ...spec, args: ['-e', 'process.exit(3)'] });
    return this.inner.launch(spec);
  }
}

const digitsWorker = (vigil: TestVigil) => {
  const v = vigil.registry.resolve('digits', undefined);
  assert.ok(v.status === 'serving');
  return v.pool!.workers[0];
};

describe('hostile: quarantine has a way back', () => {
  let vigil: TestVigil;
  const launcher = new FaultyLauncher();
  before(async () => {
    vigil = await startTestVigil({ pools: { restart: { initial_backoff_ms: 20, max_backoff_ms: 100, max_restarts: 2, window_ms: 30_000, quarantine_retry_ms: 800, max_quarantine_retry_ms: 60_000 } } }, { launcher });
  });
  after(() => vigil.stop());

  test('a crash loop is quarantined, the gateway stays ready, and a timed half-open trial brings the pool back once it is fixed', async () => {
    const headers = await vigil.auth();
    launcher.broken = true;
    process.kill(digitsWorker(vigil).pid!, 'SIGKILL');
    await waitFor('digits to be quarantined', () => digitsWorker(vigil).state === 'quarantined', 10_000);
    const refused = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers);
    assert.equal(refused.status, 503);
    assert.equal(refused.json.code, 'POOL_QUARANTINED');
    assert.ok(Number(refused.headers['retry-after']) >= 1, 'says when it will be tried again');
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/models/digits/ready', { headers })).status, 503);
    assert.equal((await rawRequest(vigil.port, 'GET', '/v2/health/ready')).status, 200, 'one quarantined model must not make the gateway unready');
    assert.equal((await rawRequest(vigil.adminPort, 'GET', '/readyz')).status, 200);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), headers)).status, 200);

    // Still broken at its first trial: one crash puts it straight back, with a longer delay.
    const firstTrialAt = digitsWorker(vigil).nextStartAt;
    await waitFor('the first trial to fail', () => digitsWorker(vigil).quarantineRetries >= 2, 5_000);
    const secondDelay = digitsWorker(vigil).nextStartAt - firstTrialAt;
    assert.ok(secondDelay >= 1_500, `the next trial waits longer (${secondDelay} ms after the first)`);

    launcher.broken = false; // the cause is fixed
    const served = await waitFor('digits to serve again by itself', async () => {
      const r = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers);
      return r.status === 200 ? r : undefined;
    }, 6_000, 100);
    assert.equal(served.json.model_name, 'digits');
    assert.equal(digitsWorker(vigil).state, 'up');
  });

  test('spawn failures that are the gateway\'s own (EMFILE) never quarantine, and name the real error', async () => {
    const before = launcher.launches;
    launcher.spawnError = 'EMFILE';
    process.kill(digitsWorker(vigil).pid!, 'SIGKILL');
    await waitFor('several failed spawns', () => launcher.launches - before >= 4, 5_000);
    assert.notEqual(digitsWorker(vigil).state, 'quarantined', 'more failed spawns than max_restarts, yet not quarantined');
    assert.equal(digitsWorker(vigil).reason, 'could not be started: EMFILE');
    launcher.spawnError = undefined;
    await waitFor('digits to come back once descriptors are available', () => digitsWorker(vigil).state === 'up', 5_000);
  });
});

describe('hostile: an operator restarts a quarantined pool', () => {
  let vigil: TestVigil;
  const launcher = new FaultyLauncher();
  before(async () => {
    vigil = await startTestVigil({ pools: { restart: { initial_backoff_ms: 20, max_backoff_ms: 100, max_restarts: 1, window_ms: 30_000, quarantine_retry_ms: 0 } } }, { launcher });
  });
  after(() => vigil.stop());

  test('POST /pools/{m}/{v}/restart (admin:pools, audited) and `vigil pools restart` bring it back at once; others are refused', async () => {
    launcher.broken = true;
    process.kill(digitsWorker(vigil).pid!, 'SIGKILL');
    await waitFor('digits to be quarantined', () => digitsWorker(vigil).state === 'quarantined', 10_000);
    const refused = await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), await vigil.auth());
    assert.equal(refused.json.code, 'POOL_QUARANTINED');
    assert.equal(refused.headers['retry-after'], undefined, 'no automatic trial is due (quarantine_retry_ms: 0)');
    launcher.broken = false;

    const analyst = await rawRequest(vigil.adminPort, 'POST', '/pools/digits/1/restart', { headers: await vigil.auth(['analyst'], 'mallory') });
    assert.equal(analyst.status, 403);
    assert.equal(digitsWorker(vigil).state, 'quarantined');
    const unknown = await rawRequest(vigil.adminPort, 'POST', '/pools/nope/1/restart', { headers: await vigil.auth(['admin'], 'ops') });
    assert.equal(unknown.status, 404);

    const ok = await rawRequest(vigil.adminPort, 'POST', '/pools/digits/1/restart', { headers: await vigil.auth(['admin'], 'ops') });
    assert.equal(ok.status, 202, ok.text);
    await waitFor('digits to serve again', async () => (await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), await vigil.auth())).status === 200, 10_000, 100);

    // The CLI, as an operator runs it, against a healthy pool: a graceful restart, a new process.
    const pid = digitsWorker(vigil).pid;
    const cli = await runVigil(['pools', 'restart', 'digits', '1', '--admin-url', `http://127.0.0.1:${vigil.adminPort}`, '--token', await vigil.token('ops', ['admin'])]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /restarting 1 worker\(s\) of digits\/1/);
    await waitFor('a new digits worker', () => digitsWorker(vigil).state === 'up' && digitsWorker(vigil).pid !== pid, 10_000);

    const events = (await auditRecords(vigil.config.audit.dir)).filter((r) => r.type === 'admin' && (r.event === 'pools.restart' || r.event === 'admin:pools'));
    const byWho = events.map((r) => (r.type === 'admin' ? `${r.principal} ${r.outcome}` : ''));
    assert.deepEqual(byWho, ['user:mallory failed', 'user:ops failed', 'user:ops ok', 'user:ops ok']);
  });
});
