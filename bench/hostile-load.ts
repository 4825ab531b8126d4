// Hostile load against vigil as `npm start` runs it: each abuse runs for BENCH_SECONDS while a
// normal client (its own principal, one keep-alive connection opened before the abuse, ~20
// requests a second on digits) measures its latency; then the abuse stops and the bench times how
// long until every model answers again. Prints, per abuse: gateway alive, the normal client's p50
// and p99 and errors, peak RSS of the gateway and of the pools, recovery time, and any model left
// quarantined. Targets (issue 11): no crash, normal p99 < 250 ms, gateway peak < 400 MB, every
// model serving within 10 s, no quarantine but from a pool's own crashes. Asserts nothing.
// Traffic goes to loopback only; every loop is bounded by the abuse's deadline.
//   npm run bench:hostile          (BENCH_SECONDS=8 by default; BENCH_ONLY=slowloris runs the abuses whose name has it)
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { NormalResult } from './normal-client.js';
import { modelBodyBound } from '../gateway/src/limits/model-body-bound.js';
import { DIGITS_BODY, MNIST_BODY, percentile } from './bench-support.js';
import { npmStartNodeFlags, startVigilChild, type VigilChild } from './vigil-child.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
/** The largest body vigil reads for mnist (64 × 784 FP32). */
const MNIST_BOUND = modelBodyBound({ inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }], outputs: [], maxBatchSize: 64 })!;
const POLICY = `version: 1
roles: { admin: all, analyst: bench }
grants:
  - { id: admin, roles: [admin], actions: ["*"], models: ["*"] }
  - { id: analysts, roles: [analyst], actions: [infer, metadata], models: [mnist, digits] }
limits: { roles: { analyst: { requests_per_minute: 100000000, items_per_minute: 100000000, concurrency: 10 } } }
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Abuse {
  name: string;
  /** Runs until `until` (ms since epoch), then releases everything it holds. */
  run(vigil: VigilChild, until: number): Promise<string>;
}

/** Connections that send nothing: held until the server closes them, then reopened. */
const idleFlood: Abuse = {
  name: 'idle-connection flood (3000 sockets)',
  async run(vigil, until) {
    const sockets = new Set<Socket>();
    let opened = 0;
    let closedByServer = 0;
    const open = () => {
      const s = connect(vigil.port, '127.0.0.1');
      opened++;
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        closedByServer++;
      });
    };
    while (Date.now() < until) {
      while (sockets.size < 3000 && Date.now() < until) {
        for (let i = 0; i < 100; i++) open();
        await sleep(20);
      }
      await sleep(100);
    }
    for (const s of sockets) s.destroy();
    return `${opened} opened, ${closedByServer} closed by the gateway`;
  },
};

/** Slowloris: request headers that never end, one line a second; reopened when closed. */
const slowloris: Abuse = {
  name: 'slowloris (1000 sockets, a header line a second)',
  async run(vigil, until) {
    const sockets = new Set<Socket>();
    let opened = 0;
    const answered = new Map<string, number>();
    const open = () => {
      const s = connect(vigil.port, '127.0.0.1');
      // Queued before any header line the loop below writes, so the request starts well-formed.
      s.write('POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\n');
      opened++;
      sockets.add(s);
      s.on('error', () => {});
      s.on('data', (d) => {
        const status = /^HTTP\/1\.1 (\d+)/.exec(d.toString())?.[1] ?? 'other';
        answered.set(status, (answered.get(status) ?? 0) + 1);
      });
      s.on('close', () => sockets.delete(s));
    };
    let line = 0;
    while (Date.now() < until) {
      while (sockets.size < 1000) open();
      for (const s of sockets) if (s.writable) s.write(`X-Slow-${line}: a\r\n`);
      line++;
      await sleep(1000);
    }
    for (const s of sockets) s.destroy();
    return `${opened} opened; answered: ${[...answered].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`;
  },
};

/**
 * 100 principals, each with 2 concurrent uploads to mnist, again and again: one a full valid
 * batch (64 × 784, ~0.6 MB, reaches the pool), one the largest body mnist accepts (~2.4 MB of
 * short numbers: the costliest parse vigil lets in; refused only once parsed). A 4 MB body is
 * refused by its Content-Length before it is read.
 */
const bigBodies: Abuse = {
  name: 'many principals × large bodies (100 × 2: a 64-row batch and a 2.4 MB body)',
  async run(vigil, until) {
    const row = `[${new Array(784).fill('0.5').join(',')}]`;
    const valid = Buffer.from(`{"inputs":[{"name":"input","shape":[64,784],"datatype":"FP32","data":[${new Array(64).fill(row).join(',')}]}]}`);
    const room = Math.floor((MNIST_BOUND - 200) / 4);
    const largest = Buffer.from(`{"inputs":[{"name":"input","shape":[64,784],"datatype":"FP32","data":[${new Array(room).fill('0.5').join(',')}]}]}`);
    const statuses = new Map<string, number>();
    const dispatcher = new Agent({ connections: 400, pipelining: 0 });
    const principals = await Promise.all(Array.from({ length: 100 }, (_, i) => vigil.mint(`abuser-${i}`, ['analyst'])));
    const one = async (auth: Record<string, string>, body: Buffer) => {
      while (Date.now() < until) {
        try {
          const r = await request(`http://127.0.0.1:${vigil.port}/v2/models/mnist/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body, dispatcher, headersTimeout: 30_000, bodyTimeout: 30_000 });
          const j = (await r.body.json().catch(() => ({}))) as { code?: string };
          const k = `${r.statusCode} ${j.code ?? ''}`.trim();
          statuses.set(k, (statuses.get(k) ?? 0) + 1);
        } catch (err) {
          const k = (err as { code?: string }).code ?? 'error';
          statuses.set(k, (statuses.get(k) ?? 0) + 1);
          await sleep(50);
        }
      }
    };
    await Promise.all(principals.flatMap((auth) => [one(auth, valid), one(auth, largest)]));
    await dispatcher.close();
    return [...statuses].map(([k, n]) => `${k}: ${n}`).join(', ');
  },
};

/** Kill the mnist worker every time one is up: a pool that crash-loops (quarantine is its own doing). */
const crashLoop: Abuse = {
  name: 'crash loop (mnist worker SIGKILLed whenever up)',
  async run(vigil, until) {
    const killed = new Set<number>();
    while (Date.now() < until) {
      for (const w of (await status(vigil)).find((m) => m.model === 'mnist')?.workers ?? []) {
        if (w.pid && w.state === 'up' && !killed.has(w.pid)) {
          try {
            process.kill(w.pid, 'SIGKILL');
            killed.add(w.pid);
          } catch {
            // already gone
          }
        }
      }
      await sleep(100);
    }
    return `${killed.size} kills`;
  },
};

let admin: Record<string, string>;
async function status(vigil: VigilChild): Promise<{ model: string; status: string; workers?: { pid: number | null; state: string }[] }[]> {
  const r = await request(`http://127.0.0.1:${vigil.adminPort}/status`, { headers: admin });
  return ((await r.body.json()) as { models: { model: string; status: string; workers?: { pid: number | null; state: string }[] }[] }).models;
}

/** Pids of vigil's pool workers (its child processes). */
function poolPids(vigil: VigilChild): number[] {
  try {
    return readFileSync(`/proc/${vigil.child.pid}/task/${vigil.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** ms from now until digits and mnist both answer 200 to fresh connections (at most 60 s). */
async function recovery(vigil: VigilChild, auth: Record<string, string>): Promise<number> {
  const t0 = Date.now();
  const ok = async (model: string, body: string) => {
    try {
      const r = await request(`http://127.0.0.1:${vigil.port}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body, headersTimeout: 5000, reset: true });
      await r.body.arrayBuffer();
      return r.statusCode === 200;
    } catch {
      return false;
    }
  };
  while (Date.now() - t0 < 60_000) {
    if ((await ok('digits', DIGITS_BODY)) && (await ok('mnist', MNIST_BODY))) return Date.now() - t0;
    await sleep(100);
  }
  return Infinity;
}

async function scenario(abuse: Abuse) {
  // BENCH_CPU_PROF=<dir> writes the gateway's CPU profile there (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF;
  const vigil = await startVigilChild(prof ? [...npmStartNodeFlags(), '--cpu-prof', `--cpu-prof-dir=${prof}`] : undefined, { policy: POLICY, config: { pools: { restart: { quarantine_retry_ms: 3000 } } } });
  try {
    admin = await vigil.mint('bench-admin', ['admin']);
    const auth = await vigil.mint('normal-client', ['analyst']);
    // The normal client runs in its own process: in this one it would also wait on the abuse's work.
    const client = fork(fileURLToPath(new URL('./normal-client.js', import.meta.url)), [String(vigil.port), JSON.stringify(auth)]);
    await once(client, 'message'); // warmed up, its connection open
    let gatewayPeak = 0;
    let poolsPeak = 0;
    const sampler = setInterval(() => {
      if (vigil.child.pid) gatewayPeak = Math.max(gatewayPeak, rssMb(vigil.child.pid));
      poolsPeak = Math.max(poolsPeak, poolPids(vigil).reduce((n, p) => n + rssMb(p), 0));
    }, 100);
    const until = Date.now() + SECONDS * 1000;
    client.send({ until });
    const [detail, [normal]] = await Promise.all([abuse.run(vigil, until), once(client, 'message') as Promise<[NormalResult]>]);
    const alive = vigil.child.exitCode === null && vigil.child.signalCode === null;
    const recoveredMs = alive ? await recovery(vigil, auth) : Infinity;
    clearInterval(sampler);
    const quarantined = alive ? (await status(vigil)).filter((m) => m.status === 'quarantined').map((m) => m.model) : [];
    return { name: abuse.name, detail, alive, normal, gatewayPeak, poolsPeak, recoveredMs, quarantined };
  } finally {
    await vigil.stop();
  }
}

console.log(`\nhostile load: each abuse ${SECONDS} s on a fresh vigil (npm start's flags), normal client on digits over one keep-alive connection\n`);
for (const abuse of [idleFlood, slowloris, bigBodies, crashLoop].filter((a) => a.name.includes(process.env.BENCH_ONLY ?? ''))) {
  const r = await scenario(abuse);
  const errors = Object.entries(r.normal.failures).map(([k, n]) => `${k}×${n}`).join(' ') || 'none';
  console.log(`${r.name}\n  ${r.detail}`);
  console.log(
    `  gateway alive: ${r.alive ? 'yes' : 'NO'} · normal client: ${r.normal.latencies.length} requests, p50 ${percentile(r.normal.latencies, 50).toFixed(1)} ms, p99 ${percentile(r.normal.latencies, 99).toFixed(1)} ms, errors ${errors}` +
      ` · peak RSS gateway ${r.gatewayPeak.toFixed(0)} MB, pools ${r.poolsPeak.toFixed(0)} MB · every model serving ${(r.recoveredMs / 1000).toFixed(1)} s after the abuse · quarantined after: ${r.quarantined.join(', ') || 'none'}\n`,
  );
}
