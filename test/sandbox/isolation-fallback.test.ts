import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inferRequest } from '../helpers/heldout.js';
import { postJson, rawRequest, startTestVigil } from '../helpers/vigil-harness.js';

test('where bubblewrap is missing, vigil still starts, in process mode, and says so: /status, the metric and inference still served', async () => {
  const saved = process.env.VIGIL_BWRAP;
  process.env.VIGIL_BWRAP = '/nonexistent/bwrap';
  let vigil;
  try {
    vigil = await startTestVigil({ pools: { isolation: 'sandbox' } });
  } finally {
    if (saved === undefined) delete process.env.VIGIL_BWRAP;
    else process.env.VIGIL_BWRAP = saved;
  }
  try {
    const headers = await vigil.auth(['admin'], 'ops');
    const status = await rawRequest(vigil.adminPort, 'GET', '/status', { headers });
    assert.deepEqual([status.json.isolation.requested, status.json.isolation.mode, status.json.isolation.limits], ['sandbox', 'process', 'none']);
    assert.ok(status.json.isolation.problems.some((p: string) => /bubblewrap is not installed/.test(p)), JSON.stringify(status.json.isolation.problems));
    const metrics = (await rawRequest(vigil.adminPort, 'GET', '/metrics')).text;
    assert.match(metrics, /vigil_pool_isolation\{[^}]*requested="sandbox"[^}]*\} 1\b/);
    assert.match(metrics, /vigil_pool_isolation\{[^}]*mode="process"[^}]*\} 1\b/);
    assert.equal((await postJson(vigil.port, '/v2/models/digits/infer', inferRequest('digits', [0]), headers)).status, 200);
  } finally {
    await vigil.stop();
  }
});
