// A budget store that fails mid-request follows on_store_failure under its own name, and the other
// detectors' findings on the same answer still count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBudgetStore } from '../../detectors/src/budget/budget-store.js';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { inferRequest } from '../helpers/heldout.js';
import { writePolicy } from '../helpers/policy-file.js';
import { postJson, startTestVigil } from '../helpers/vigil-harness.js';

class FailingBudgetStore extends MemoryBudgetStore {
  override async add(): Promise<never> {
    throw new Error('Command timed out');
  }
}

const policy = (mode: string) => `
version: 1
roles: { analyst: demo }
grants: [{ id: g, roles: [analyst], actions: [infer], models: [mnist] }]
limits: { on_store_failure: ${mode}, roles: { analyst: { requests_per_minute: 6000, items_per_minute: 100000, concurrency: 16 } } }
detectors: { budget: { action: quarantine }, extraction: { action: flag } }
`;

for (const mode of ['fail_closed', 'fail_open'] as const) {
  test(`${mode}: a failing budget store is named as such, and the squeeze finding of the same answer is kept`, async () => {
    const vigil = await startTestVigil({ policy: { file: await writePolicy(policy(mode)) } }, { stores: { budget: new FailingBudgetStore() } });
    try {
      const r = await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [1000]), { ...(await vigil.auth(['analyst'], 'alice')), 'x-request-id': mode });
      let rec: (StoredAuditRecord & { type: 'request' }) | undefined;
      for await (const x of queryAudit(vigil.config.audit.dir)) if (x.type === 'request' && x.client_request_id === mode) rec = x as typeof rec;
      assert.ok(rec);
      if (mode === 'fail_closed') {
        assert.deepEqual([r.status, r.json.code, rec.rule], [503, 'STORE_UNAVAILABLE', 'store:budget']);
      } else {
        assert.equal(r.status, 200, 'served without the budget check');
        assert.ok(rec.shadow_denials.includes('store:budget-failed'), JSON.stringify(rec.shadow_denials));
      }
      assert.ok(rec.findings?.some((f) => f.detector === 'squeeze'), 'the squeeze finding is recorded either way');
    } finally {
      await vigil.stop();
    }
  });
}
