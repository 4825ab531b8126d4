// What the audit log costs on disk per request, to size `audit.retention.max_bytes`: a real vigil
// (bundled models, detectors on, quotas out of reach) serves N mnist inferences from a JWT caller; then the
// log files' size / N, and the checkpoints' size per request and per line. Asserts nothing.
//   npm run bench:audit-bytes          (BENCH_REQUESTS=5000 for more)
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { listLogFiles } from '../gateway/src/audit/chain.js';
import { loadOrCreateDevKey, mintDevToken } from '../gateway/src/auth/dev-signing-key.js';
import { configSchema } from '../gateway/src/config/schema.js';
import { startVigil } from '../gateway/src/vigil.js';
import { MNIST_BODY } from './bench-support.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = 8;

const POLICY = `version: 1
roles: { analyst: bench }
grants: [{ id: analyst-mnist, roles: [analyst], actions: [infer], models: [mnist] }]
limits: { roles: { analyst: { requests_per_minute: 100000000, items_per_minute: 100000000, concurrency: 1000 } } }
`;

const scratch = await mkdtemp(join(tmpdir(), 'vigil-bench-audit-bytes-'));
const dir = join(scratch, 'audit');
await writeFile(join(scratch, 'policy.yaml'), POLICY);
const config = configSchema.parse({
  server: { port: 0 },
  admin: { port: 0 },
  models: { repository: resolve('models') },
  auth: { dev_mode: true, state_dir: join(scratch, 'state') },
  policy: { file: join(scratch, 'policy.yaml'), watch: false },
  audit: { dir },
});
const vigil = await startVigil(config, pino({ level: 'silent' }));
try {
  const token = await mintDevToken(await loadOrCreateDevKey(config.auth.state_dir), { sub: 'bench-analyst@example.com', roles: ['analyst'], ttlSeconds: 3600 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  let sent = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (sent < REQUESTS) {
        sent++;
        const res = await fetch(`http://127.0.0.1:${vigil.port}/v2/models/mnist/infer`, { method: 'POST', headers, body: MNIST_BODY });
        await res.arrayBuffer();
        if (res.status !== 200) failed++;
      }
    }),
  );
  await vigil.stop(); // writes the last records and the final checkpoint
  let logBytes = 0;
  let records = 0;
  for (const f of await listLogFiles(dir)) {
    logBytes += (await stat(f.path)).size;
    records += (await readFile(f.path, 'utf8')).split('\n').length - 1;
  }
  const cps = (await readFile(join(dir, 'checkpoints.jsonl'), 'utf8')).trimEnd().split('\n');
  const cpBytes = cps.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  console.log(`${REQUESTS} mnist inferences (${failed} not 200), ${records} records (the rest: start, stop, admin)`);
  console.log(`log files:   ${logBytes} bytes, ${(logBytes / REQUESTS).toFixed(0)} B per request, ${(logBytes / records).toFixed(0)} B per record`);
  console.log(`checkpoints: ${cps.length} lines, ${cpBytes} bytes (${(cpBytes / REQUESTS).toFixed(1)} B per request), longest line ${Math.max(...cps.map((l) => Buffer.byteLength(l)))} B`);
  console.log(`so 1 GiB of audit.retention.max_bytes holds ~${(2 ** 30 / (logBytes / REQUESTS) / 1e6).toFixed(2)} million such requests`);
} finally {
  await vigil.stop().catch(() => {});
  await rm(scratch, { recursive: true, force: true });
}
