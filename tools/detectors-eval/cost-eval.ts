import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { parseDocument } from 'yaml';
import { benchCaller, gateway } from '../../bench/variant-gateway.js';
import type { Heldout } from '../calibration/offline-scorer.js';

export interface CostRow {
  detectors: string;
  rps: number;
  /** Throughput relative to no screening, measured in the same run. */
  ratio: number;
}

/** Each step turns one more detector on for mnist; the last is the model as shipped. */
const STEPS: [string, (doc: ReturnType<typeof parseDocument>) => void][] = [
  ['none', (d) => {
    d.setIn(['detectors', 'structural', 'enabled'], false);
    for (const k of ['profile', 'squeeze', 'extraction']) d.setIn(['detectors', k, 'enabled'], false);
  }],
  ['structural', (d) => d.setIn(['detectors', 'structural', 'enabled'], true)],
  ['+ profile', (d) => d.setIn(['detectors', 'profile', 'enabled'], true)],
  ['+ squeeze (in the pool)', (d) => d.setIn(['detectors', 'squeeze', 'enabled'], true)],
  ['+ extraction (all, as shipped)', (d) => d.setIn(['detectors', 'extraction', 'enabled'], true)],
];

/**
 * Throughput of the gateway as shipped (full security chain) on mnist batch 1, with the detectors
 * turned on one at a time, each in a fresh gateway process on a copy of the model repository.
 * The bodies cycle through 256 held-out digits, so the extraction detector sees new queries.
 */
export async function costEval(heldout: Heldout, opts: { seconds: number; connections: number }): Promise<CostRow[]> {
  const scratch = await mkdtemp(join(tmpdir(), 'vigil-eval-cost-'));
  try {
    // The policy's detector actions stay at their defaults (flag): every request is answered.
    const token = await benchCaller(scratch);
    const bodies = heldout.inputs.slice(0, 256).map((x) => JSON.stringify({ inputs: [{ name: 'input', shape: [1, heldout.features], datatype: 'FP32', data: x }] }));
    const repo = join(scratch, 'models');
    await cp('models', repo, { recursive: true });
    const file = join(repo, 'mnist', '1', 'model.yaml');
    const doc = parseDocument(await readFile(file, 'utf8'));
    const rows: CostRow[] = [];
    for (const [label, step] of STEPS) {
      step(doc);
      await writeFile(file, doc.toString());
      const g = await gateway(scratch, true, 10_000, true, {}, repo);
      try {
        let n = 0;
        const run = (duration: number) =>
          autocannon({
            url: `http://127.0.0.1:${g.port}/v2/models/mnist/infer`,
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            connections: opts.connections,
            duration,
            requests: [{ setupRequest: (req) => ({ ...req, body: bodies[n++ % bodies.length] }) }],
          });
        await run(1);
        const r = await run(opts.seconds);
        if (r.non2xx > 0) throw new Error(`${label}: ${r.non2xx} requests failed`);
        rows.push({ detectors: label, rps: r.requests.average, ratio: 0 });
      } finally {
        g.child.kill('SIGTERM');
        await new Promise((resolve) => g.child.once('exit', resolve));
        await rm(g.runtimeDir, { recursive: true, force: true });
      }
    }
    for (const r of rows) r.ratio = r.rps / rows[0].rps;
    return rows;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
