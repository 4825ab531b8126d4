// Triton's poll mode (models.poll_interval_ms): a gateway follows its repository without being
// told, so replicas sharing one follow each other's rollbacks. Changes load through the same
// all-or-nothing lifecycle and are audited as vigil:poll; a broken change is refused once.
import assert from 'node:assert/strict';
import { appendFile, cp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import type { AuditRecord } from '../../gateway/src/audit/audit-record.js';
import { inferRequest } from '../helpers/heldout.js';
import { copyOfModels, postJson, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

describe('models.poll_interval_ms: the gateway follows its repository', () => {
  let repo: Awaited<ReturnType<typeof copyOfModels>>;
  let vigil: TestVigil;
  let auth: Record<string, string>;
  before(async () => {
    repo = await copyOfModels();
    vigil = await startTestVigil({ models: { repository: repo.dir, poll_interval_ms: 200 } });
    auth = await vigil.auth(['analyst'], 'poll');
  });
  after(async () => {
    await vigil?.stop();
    await repo?.cleanup();
  });
  const records = async (action: string) => {
    const out: Extract<AuditRecord, { type: 'admin' }>[] = [];
    for await (const r of queryAudit(vigil.config.audit.dir, { type: 'admin', action })) if (r.type === 'admin') out.push(r);
    return out;
  };
  /** A copy of mnist/1 put in place whole (built beside the repository, then renamed in), as a deploy tool would. */
  const addVersion = async (version: string, edit?: (dir: string) => Promise<void>) => {
    const staging = join(repo.dir, '..', `staging-${process.pid}-${version}`);
    await cp(join(repo.dir, 'mnist', '1'), staging, { recursive: true });
    await edit?.(staging);
    await rename(staging, join(repo.dir, 'mnist', version));
  };
  const status = async (path: string) => (await postJson(vigil.port, path, inferRequest(path.includes('digits') ? 'digits' : 'mnist', [40]), auth)).status;

  test('a version copied in is served, and a split written to traffic.yaml (as another replica\'s rollback writes it) is followed', async () => {
    await addVersion('2');
    await waitFor('version 2 served', async () => (await status('/v2/models/mnist/versions/2/infer')) === 200, 15_000, 100);
    const [load] = await records('models.load');
    assert.equal((await records('models.load')).length, 1, 'one load for one change');
    assert.equal(load.principal, 'vigil:poll');
    assert.equal(load.outcome, 'ok');
    await writeFile(join(repo.dir, 'mnist', 'traffic.yaml'), 'split: { "1": 100, "2": 0 }\n');
    await waitFor('the split followed', async () => vigil.registry.trafficOf('mnist')?.split?.['1'] === 100, 15_000, 100);
    assert.equal((await postJson(vigil.port, '/v2/models/mnist/infer', inferRequest('mnist', [40]), auth)).json.model_version, '1');
  });

  test('a broken version is refused once, audited, and the rest keeps serving; a model whose directory is removed is unloaded', async () => {
    await addVersion('3', (dir) => appendFile(join(dir, 'model.onnx'), Buffer.from([1])));
    const refusals = async () => (await records('models.load')).filter((r) => r.outcome === 'failed' && /version 3: digest mismatch/.test(String(r.detail.reason)));
    await waitFor('the refused load', async () => (await refusals()).length > 0, 15_000, 100);
    await new Promise((r) => setTimeout(r, 800)); // four more rounds
    assert.equal((await refusals()).length, 1, 'not retried until the directory changes again');
    assert.equal(await status('/v2/models/mnist/versions/1/infer'), 200);
    assert.equal(await status('/v2/models/mnist/versions/3/infer'), 404);
    await rm(join(repo.dir, 'digits'), { recursive: true });
    await waitFor('digits unloaded', async () => (await status('/v2/models/digits/infer')) === 503, 15_000, 100);
    const [unload] = await records('models.unload');
    assert.deepEqual([unload.principal, unload.detail.model], ['vigil:poll', 'digits']);
  });
});
