import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadOrCreateDevKey, mintDevToken } from '../../gateway/src/auth/dev-signing-key.js';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { queryAudit } from '../../gateway/src/audit/query.js';
import { configSchema } from '../../gateway/src/config/schema.js';
import { startVigil } from '../../gateway/src/vigil.js';
import type { MlpWeights } from '../train/mlp.js';
import { argmax, forward } from '../train/mlp.js';
import type { Heldout } from '../calibration/offline-scorer.js';
import { simba } from './attacks/black-box.js';
import { pixelBounds } from './attacks/white-box.js';

export interface BlackBoxResult {
  attacked: number;
  successes: number;
  /** Mean rows sent per successful attack, and mean HTTP requests. */
  meanQueries: number;
  meanRequests: number;
  /** Successful adversarial examples the gateway flagged, by detector, as its audit records say. */
  flaggedBy: { profile: number; squeeze: number; combined: number };
}

const POLICY = `version: 1
roles: { attacker: a client with a valid token and nothing else }
grants: [{ id: attacker-mnist, roles: [attacker], actions: [infer], models: [mnist] }]
limits: { roles: { attacker: { requests_per_minute: 1000000, items_per_minute: 100000000, concurrency: 64 } } }
detectors: { profile: { action: flag }, squeeze: { action: flag }, extraction: { action: allow } }
`;

/**
 * A score-based black-box attack (SimBA, pixel basis, L∞ ε 0.3) through vigil's public endpoint:
 * the attacker sees only the probabilities the gateway returns. Detectors flag (never block) so
 * the attack runs to its end; each final adversarial example is then sent once more, and what the
 * gateway's detectors made of it is read back from the audit log.
 */
export async function blackBoxEval(weights: MlpWeights, heldout: Heldout, evaluation: number[], opts: { samples: number; maxQueries: number }): Promise<BlackBoxResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'vigil-eval-'));
  await writeFile(join(scratch, 'policy.yaml'), POLICY);
  const config = configSchema.parse({
    server: { port: 0, host: '127.0.0.1' },
    admin: { port: 0, host: '127.0.0.1' },
    models: { repository: 'models', runtime_dir: join(scratch, 'run') },
    auth: { dev_mode: true, state_dir: join(scratch, 'state') },
    policy: { file: join(scratch, 'policy.yaml'), watch: false },
    audit: { dir: join(scratch, 'audit') },
  });
  const vigil = await startVigil(config, pino({ level: 'warn' }));
  try {
    const token = await mintDevToken(await loadOrCreateDevKey(config.auth.state_dir), { sub: 'eval-attacker', roles: ['attacker'], ttlSeconds: 3600 });
    let requests = 0;
    const infer = async (rows: Float32Array[], requestId?: string) => {
      requests++;
      const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, heldout.features], data: rows.flatMap((r) => Array.from(r)) }], outputs: [{ name: 'probabilities' }] });
      const r = await post(vigil.port, body, { authorization: `Bearer ${token}`, ...(requestId ? { 'x-request-id': requestId } : {}) });
      if (r.status !== 200) throw new Error(`the gateway answered ${r.status}: ${r.text.slice(0, 200)}`);
      const data = (JSON.parse(r.text) as { outputs: { data: number[] }[] }).outputs[0].data;
      return rows.map((_, i) => data.slice(i * 10, (i + 1) * 10));
    };
    const start = evaluation.filter((i) => argmax(forward(weights, heldout.inputs[i])) === heldout.labels[i]).slice(0, opts.samples);
    const wins: { adv: Float32Array; queries: number; requests: number }[] = [];
    for (const [n, i] of start.entries()) {
      const before = requests;
      const r = await simba(infer, heldout.inputs[i], heldout.labels[i], { eps: 0.3, maxQueries: opts.maxQueries, pixelsPerCall: 8, seed: 7000 + n }, pixelBounds(heldout.features));
      if (r.success) wins.push({ adv: r.adv, queries: r.queries, requests: requests - before });
    }
    for (const [n, w] of wins.entries()) await infer([w.adv], `final-${n}`);
    const records = new Map<string, StoredAuditRecord>();
    for await (const rec of queryAudit(config.audit.dir)) if (rec.type === 'request' && rec.client_request_id?.startsWith('final-')) records.set(rec.client_request_id, rec);
    const flaggedBy = { profile: 0, squeeze: 0, combined: 0 };
    for (const [n] of wins.entries()) {
      const rec = records.get(`final-${n}`);
      const anomalous = (d: string) => rec?.type === 'request' && (rec.findings ?? []).some((f) => f.detector === d && f.verdict === 'anomalous');
      if (anomalous('profile')) flaggedBy.profile++;
      if (anomalous('squeeze')) flaggedBy.squeeze++;
      if (anomalous('profile') || anomalous('squeeze')) flaggedBy.combined++;
    }
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
    return {
      attacked: start.length,
      successes: wins.length,
      meanQueries: mean(wins.map((w) => w.queries)),
      meanRequests: mean(wins.map((w) => w.requests)),
      flaggedBy,
    };
  } finally {
    await vigil.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

function post(port: number, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/mnist/infer', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
