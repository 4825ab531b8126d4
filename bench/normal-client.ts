// The hostile-load bench's normal client, in a process of its own so its latencies are vigil's,
// not the load generator's: one keep-alive connection, a digits inference every ~50 ms.
// argv: port, auth headers as JSON. Sends 'warm' once its connection is open; given { until },
// runs until then and sends back a NormalResult. Loopback only; bounded by `until`.
import { Pool } from 'undici';
import { DIGITS_BODY } from './bench-support.js';

export interface NormalResult {
  latencies: number[];
  failures: Record<string, number>;
}

const [port, authJson] = process.argv.slice(2);
const auth = JSON.parse(authJson) as Record<string, string>;
const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1, keepAliveTimeout: 60_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(until: number): Promise<NormalResult> {
  const out: NormalResult = { latencies: [], failures: {} };
  while (Date.now() < until) {
    const t0 = performance.now();
    try {
      const r = await pool.request({ path: '/v2/models/digits/infer', method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: DIGITS_BODY, headersTimeout: 10_000 });
      await r.body.arrayBuffer();
      out.latencies.push(performance.now() - t0);
      if (r.statusCode !== 200) out.failures[r.statusCode] = (out.failures[r.statusCode] ?? 0) + 1;
    } catch (err) {
      const k = (err as { code?: string }).code ?? 'error';
      out.failures[k] = (out.failures[k] ?? 0) + 1;
    }
    await sleep(50);
  }
  return out;
}

await run(Date.now() + 1000);
process.send!('warm');
process.once('message', (m: { until: number }) => {
  void run(m.until).then(async (result) => {
    process.send!(result);
    await pool.close();
    process.disconnect();
  });
});
