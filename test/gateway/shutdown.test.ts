import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { inferRequest } from '../helpers/heldout.js';
import { rawRequest } from '../helpers/vigil-harness.js';
import { spawnVigil } from '../helpers/vigil-process.js';
import { isAlive, waitFor } from '../helpers/wait-for.js';

async function workerPids(vigil: Awaited<ReturnType<typeof spawnVigil>>): Promise<number[]> {
  const status = await rawRequest(vigil.adminPort, 'GET', '/status', { headers: await vigil.auth(['admin']) });
  return status.json.models.flatMap((m: { workers: { pid: number }[] }) => m.workers.map((w) => w.pid));
}

describe('stopping vigil', () => {
  test('SIGTERM drains the request in flight, then stops every pool and exits 0', async () => {
    const vigil = await spawnVigil();
    const pids = await workerPids(vigil);
    assert.equal(pids.length, 2);

    // A request whose body is only half sent when the signal arrives.
    const body = Buffer.from(JSON.stringify(inferRequest('digits', [0])));
    const socket = connect(vigil.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const response = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
    });
    const { authorization } = await vigil.auth(['analyst'], 'alice');
    socket.write(`POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\nauthorization: ${authorization}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`);
    socket.write(body.subarray(0, 100));
    await new Promise((r) => setTimeout(r, 100));

    vigil.child.kill('SIGTERM');
    await waitFor('the listener to close', async () => {
      try {
        await rawRequest(vigil.port, 'GET', '/v2/health/live');
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
      }
    });
    assert.ok(pids.every(isAlive), 'pools stay up while requests drain');
    socket.write(body.subarray(100)); // no FIN: a half-closed client counts as aborted
    const text = await response;
    assert.match(text, /^HTTP\/1\.1 200 /, 'the in-flight request completed');
    assert.match(text, /"model_name":"digits"/);

    assert.deepEqual(await vigil.exited, { code: 0, signal: null });
    await waitFor('every pool worker to be gone', () => pids.every((p) => !isAlive(p)), 3_000);
  });

  test('if the gateway is killed outright, its pool workers exit by themselves (no orphans)', async () => {
    const vigil = await spawnVigil();
    const pids = await workerPids(vigil);
    vigil.child.kill('SIGKILL');
    await vigil.exited;
    await waitFor('orphaned workers to exit', () => pids.every((p) => !isAlive(p)), 5_000);
  });
});
