// A quarantine that cannot be written (its store failed mid-request) follows the policy's
// on_store_failure like every other store failure: fail closed with 503 STORE_UNAVAILABLE, audited,
// never a 500.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { MemoryQuarantineStore } from '../../gateway/src/stores/memory-quarantine-store.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';

class WriteFailingQuarantine extends MemoryQuarantineStore {
  override async add(): Promise<number> {
    throw new Error('Stream isn\'t writeable and enableOfflineQueue options is false');
  }
}

let vigil: TestVigil;
before(async () => {
  const policy = `
version: 1
roles: { analyst: demo }
grants: [{ id: g, roles: [analyst], actions: [infer], models: [digits] }]
detectors:
  structural: { action: quarantine }
  quarantine_seconds: 60
`;
  vigil = await startTestVigil({ policy: { file: await writePolicy(policy) } }, { stores: { quarantine: new WriteFailingQuarantine() } });
});
after(() => vigil?.stop());

test('a finding whose quarantine cannot be stored is refused with 503 STORE_UNAVAILABLE, fail closed and audited', async () => {
  const headers = await vigil.auth(['analyst'], 'prober');
  const bad = inferRequest('digits', [0]);
  (bad.inputs[0].data as number[])[0] = 1e6;
  const r = await postJson(vigil.port, '/v2/models/digits/infer', bad, { ...headers, 'x-request-id': 'q-fail' });
  assert.equal(r.status, 503);
  assert.equal(r.json.code, 'STORE_UNAVAILABLE');
  let rec;
  for await (const x of queryAudit(vigil.config.audit.dir)) if (x.type === 'request' && x.client_request_id === 'q-fail') rec = x;
  assert.ok(rec?.type === 'request');
  assert.equal(rec.rule, 'store:quarantine');
  assert.equal(rec.stage, 'screen');
});

test('under fail_open, a quarantine that cannot be stored still refuses the request (as a block), and the failure is a shadow refusal', async () => {
  const policy = `
version: 1
roles: { analyst: demo }
grants: [{ id: g, roles: [analyst], actions: [infer], models: [digits] }]
limits: { on_store_failure: fail_open }
detectors:
  structural: { action: quarantine }
  quarantine_seconds: 60
`;
  const open = await startTestVigil({ policy: { file: await writePolicy(policy) } }, { stores: { quarantine: new WriteFailingQuarantine() } });
  try {
    const headers = await open.auth(['analyst'], 'prober');
    const bad = inferRequest('digits', [0]);
    (bad.inputs[0].data as number[])[0] = 1e6;
    const r = await postJson(open.port, '/v2/models/digits/infer', bad, { ...headers, 'x-request-id': 'q-open' });
    assert.deepEqual([r.status, r.json.code], [400, 'STRUCTURAL_CHECK_FAILED'], 'fail_open skips the quarantine, never the detector');
    let rec;
    for await (const x of queryAudit(open.config.audit.dir)) if (x.type === 'request' && x.client_request_id === 'q-open') rec = x;
    assert.ok(rec?.type === 'request');
    assert.equal(rec.rule, 'detector:structural');
    assert.ok(rec.shadow_denials.includes('store:quarantine-failed'), JSON.stringify(rec.shadow_denials));
  } finally {
    await open.stop();
  }
});
