// An idle-connection flood under a low descriptor limit (issue 11, item 4). Before: with
// `ulimit -n 1024`, ~1,100 idle connections starved the health probes of descriptors, every
// worker was killed as unresponsive, respawns failed, every pool was quarantined, and inference
// stayed 503 POOL_QUARANTINED after the attack until a restart.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { raiseDescriptorLimit } from '../../gateway/src/descriptors.js';
import { auditRecords } from '../helpers/audit-records.js';
import { inferRequest } from '../helpers/heldout.js';
import { spawnVigil, type VigilProcess } from '../helpers/vigil-process.js';
import { postJson, rawRequest } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

const VIGIL_FDS = 512;
const FLOOD = 600;

function hasPrlimit(): boolean {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const own = raiseDescriptorLimit().limit;
const skip = !hasPrlimit() ? 'prlimit (util-linux) is not installed' : !own || own.soft < FLOOD + 200 ? `this test process may open only ${own?.soft} descriptors` : false;

describe('hostile: an idle-connection flood with a 512-descriptor limit', { skip }, () => {
  let vigil: VigilProcess;
  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-fds-'));
    const config = join(dir, 'vigil.yaml');
    await writeFile(
      config,
      `server: { header_timeout_ms: 3000 }\nmodels: { repository: ${resolve('models')} }\npolicy: { file: ${resolve('policies/vigil-policy.yaml')}, watch: false }\nauth: { dev_mode: true }\npools: { health: { interval_ms: 200, timeout_ms: 500, failures_before_replace: 2 } }\n`,
    );
    vigil = await spawnVigil({ VIGIL_CONFIG: config }, { prefix: ['prlimit', `--nofile=${VIGIL_FDS}:${VIGIL_FDS}`] });
  });
  after(async () => {
    vigil.child.kill('SIGTERM');
    await vigil.exited;
  });

  test('connections past the bound get 503 OVERLOADED; probes keep their descriptors; no worker is lost; all serve after', async () => {
    const sockets: Socket[] = [];
    const replies: string[] = [];
    for (let i = 0; i < FLOOD; i++) {
      const s = connect(vigil.port, '127.0.0.1');
      s.on('error', () => undefined);
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.on('close', () => replies.push(text));
      sockets.push(s);
      await once(s, 'connect').catch(() => undefined);
    }
    const refused = await waitFor('the connections past the bound to be answered', () => {
      const n = replies.filter((t) => t.startsWith('HTTP/1.1 503') && t.includes('"code":"OVERLOADED"')).length;
      return n > 0 && replies.length >= n ? n : undefined;
    });
    assert.ok(refused < FLOOD, 'some connections must have been accepted');
    // Through several probe intervals of the flood, every worker stays up.
    const admin = await vigil.auth(['admin']);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const status = await rawRequest(vigil.adminPort, 'GET', '/status', { headers: admin });
      assert.equal(status.status, 200);
      for (const m of status.json.models) {
        for (const w of m.workers) {
          assert.equal(w.state, 'up', `${m.model}/${m.version} worker ${w.index} during the flood: ${w.state} (${w.reason})`);
          assert.equal(w.restarts, 0, `${m.model}/${m.version} worker ${w.index} was restarted during the flood: ${w.reason}`);
        }
      }
    }
    // The header timeout clears the idle connections; then everyone is served again.
    const served = await waitFor(
      'inference to be served again after the flood',
      async () => {
        const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [0]), await vigil.auth(['analyst'], 'after')).catch(() => undefined);
        return r?.status === 200 ? r : undefined;
      },
      10_000,
      200,
    );
    assert.equal(served.json.model_name, 'mnist');
    for (const s of sockets) s.destroy();
    vigil.child.kill('SIGTERM');
    await vigil.exited;
    const episodes = (await auditRecords(vigil.auditDir)).filter((r) => r.type === 'admin' && r.event === 'overload.connections_refused');
    assert.equal(episodes.length, 1, 'one audit record for the episode');
    assert.ok(episodes[0].type === 'admin' && (episodes[0].detail.refused as number) >= refused);
  });
});
