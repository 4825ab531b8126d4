import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executable, freePort, SETPRIV } from './local-daemon.js';

/**
 * A real Prometheus server for tests: its own config, storage and port in a private temp
 * directory, started as a child of the test and always stopped by it. Never the system service.
 */

/** Where the Debian package puts it; `PROMETHEUS_BIN` overrides (tests of the skip path point it nowhere). */
const DEFAULT_BINARY = '/usr/bin/prometheus';

/**
 * util-linux's setpriv (Essential in Debian): `--pdeathsig KILL` has the kernel kill Prometheus
 * if the test process dies in any way, SIGKILL included, where no handler of ours could run.
 */


/** The Prometheus binary to run, or null when it is not installed (tests then skip, never pass). */
export function prometheusBinary(): string | null {
  const path = process.env.PROMETHEUS_BIN ?? DEFAULT_BINARY;
  return executable(path) ? path : null;
}

export interface PromSample {
  metric: Record<string, string>;
  /** [unix seconds, value as Prometheus prints it] */
  value: [number, string];
}

export interface PromSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

/** The body of `/api/v1/query` or `/api/v1/query_range`, success or error. */
export interface PromResponse<R = PromSample[] | PromSeries[] | [number, string]> {
  status: 'success' | 'error';
  data?: { resultType: 'vector' | 'matrix' | 'scalar' | 'string'; result: R };
  errorType?: string;
  error?: string;
  warnings?: string[];
}

export interface PromTarget {
  labels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
}

export interface StartPrometheusOptions {
  /** `host:port` of each target, scraped at `/metrics` by the job `vigil`. */
  targets: string[];
  /** Scrape and rule-evaluation interval (default 1000 ms). */
  scrapeIntervalMs?: number;
  /** A bearer token Prometheus sends with every scrape (written to a file in the temp dir). */
  bearerToken?: string;
  /** How long to wait for `/-/ready` (default 20 s). */
  readyTimeoutMs?: number;
}

export interface RunningPrometheus {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Its log (stdout and stderr), for failure messages. */
  logFile: string;
  /** An instant query at `time` (default: now). Resolves with error bodies too (status 'error'). */
  query(promql: string, time?: Date): Promise<PromResponse>;
  /** A range query, `stepS` seconds apart. */
  queryRange(promql: string, start: Date, end: Date, stepS?: number): Promise<PromResponse>;
  /** The active targets as Prometheus sees them. */
  targets(): Promise<PromTarget[]>;
  /** Waits until every configured target has been scraped successfully (health up). */
  waitForTargetsUp(timeoutMs?: number): Promise<PromTarget[]>;
  /**
   * Waits until every target has been scraped successfully `count` times after `since`
   * (default: now), so what happened before `since` is in the TSDB.
   */
  waitForScrapes(count?: number, since?: Date, timeoutMs?: number): Promise<void>;
  /** The tail of its log. */
  logTail(lines?: number): string;
  /** Kills it (SIGTERM, then SIGKILL) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 5_000;

/** Starts a private Prometheus scraping `targets`. Throws (and leaves nothing behind) if it cannot. */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<RunningPrometheus> {
  const binary = prometheusBinary();
  if (!binary) throw new Error('prometheus is not installed (see prometheusBinary())');
  if (opts.targets.length === 0) throw new Error('startPrometheus needs at least one target');
  const intervalMs = opts.scrapeIntervalMs ?? 1_000;
  const scratch = await mkdtemp(join(tmpdir(), 'vigil-prometheus-'));
  let lastError: unknown;
  // The free port is found by binding and releasing it, so another process may take it in
  // between: a start that loses that race is retried on a new port.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, scratch, opts, intervalMs, attempt);
    } catch (err) {
      lastError = err;
      if (!(err instanceof PortTaken)) break;
    }
  }
  await rm(scratch, { recursive: true, force: true });
  throw lastError;
}

class PortTaken extends Error {}

async function startOnce(binary: string, scratch: string, opts: StartPrometheusOptions, intervalMs: number, attempt: number): Promise<RunningPrometheus> {
  const dir = join(scratch, `run-${attempt}`);
  await mkdir(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(dir, 'prometheus.yml');
  const logFile = join(dir, 'prometheus.log');
  let auth = '';
  if (opts.bearerToken !== undefined) {
    const tokenFile = join(dir, 'scrape-token');
    await writeFile(tokenFile, opts.bearerToken, { mode: 0o600 });
    auth = `    authorization:\n      type: Bearer\n      credentials_file: ${JSON.stringify(tokenFile)}\n`;
  }
  const interval = `${intervalMs}ms`;
  await writeFile(
    configFile,
    `global:\n  scrape_interval: ${interval}\n  scrape_timeout: ${interval}\n  evaluation_interval: ${interval}\n` +
      `scrape_configs:\n  - job_name: vigil\n    metrics_path: /metrics\n    scheme: http\n${auth}` +
      `    static_configs:\n      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]\n`,
  );

  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    const args = [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=info',
    ];
    // setpriv execs Prometheus in place: the child's pid is Prometheus's.
    const [command, argv] = executable(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
    child = spawn(command, argv, { cwd: dir, stdio: ['ignore', logFd, logFd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  } finally {
    closeSync(logFd);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolveExit();
    });
    child.once('error', () => {
      exited ??= { code: null, signal: null };
      resolveExit();
    });
  });
  // Belt and braces: if the test process exits without stop() (a crash, process.exit), take
  // Prometheus with it. A synchronous kill is all an 'exit' handler can do.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const logTail = (lines = 40) => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    await rm(scratch, { recursive: true, force: true });
  };

  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(url + path, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`GET ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`);
    }
  };

  try {
    // Ready: /-/ready answers 200, or the process exits (a port lost to a race, a bad config).
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
    for (;;) {
      if (exited) {
        const tail = logTail();
        if (/address already in use/i.test(tail)) throw new PortTaken(`port ${port} was taken`);
        throw new Error(`prometheus exited before it was ready (${JSON.stringify(exited)}); its log:\n${tail}`);
      }
      try {
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`prometheus was not ready within ${opts.readyTimeoutMs ?? 20_000} ms; its log:\n${logTail()}`);
      await sleep(100);
    }
  } catch (err) {
    // Kill this attempt's process, but leave the scratch dir to startPrometheus (it may retry).
    process.removeListener('exit', killOnExit);
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    stopped = true;
    throw err;
  }

  const targets = async (): Promise<PromTarget[]> => {
    const body = await getJson<{ status: string; data: { activeTargets: PromTarget[] } }>('/api/v1/targets?state=active');
    if (body.status !== 'success') throw new Error(`/api/v1/targets: ${JSON.stringify(body)}`);
    return body.data.activeTargets;
  };

  const describeTargets = (ts: PromTarget[]) => ts.map((t) => `${t.scrapeUrl}: ${t.health} ${t.lastScrape} ${t.lastError}`).join('; ') || '(no targets)';

  const running: RunningPrometheus = {
    url,
    logFile,
    logTail,
    stop,
    targets,
    query: (promql, time = new Date()) => getJson<PromResponse>(`/api/v1/query?${new URLSearchParams({ query: promql, time: (time.getTime() / 1000).toFixed(3) })}`),
    queryRange: (promql, start, end, stepS = 1) =>
      getJson<PromResponse>(
        `/api/v1/query_range?${new URLSearchParams({ query: promql, start: (start.getTime() / 1000).toFixed(3), end: (end.getTime() / 1000).toFixed(3), step: String(stepS) })}`,
      ),
    async waitForTargetsUp(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let seen: PromTarget[] = [];
      for (;;) {
        seen = await targets();
        if (seen.length === opts.targets.length && seen.every((t) => t.health === 'up')) return seen;
        if (Date.now() > deadline) throw new Error(`targets not up within ${timeoutMs} ms: ${describeTargets(seen)}; prometheus log:\n${logTail(10)}`);
        await sleep(100);
      }
    },
    async waitForScrapes(count = 2, since = new Date(), timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      // Per target: the successful scrapes seen after `since`, by their start time.
      const scrapes = new Map<string, Set<string>>();
      for (;;) {
        const seen = await targets();
        for (const t of seen) {
          if (t.health === 'up' && !t.lastError && Date.parse(t.lastScrape) > since.getTime()) {
            const s = scrapes.get(t.scrapeUrl) ?? new Set<string>();
            s.add(t.lastScrape);
            scrapes.set(t.scrapeUrl, s);
          }
        }
        if (seen.length === opts.targets.length && seen.every((t) => (scrapes.get(t.scrapeUrl)?.size ?? 0) >= count)) return;
        if (Date.now() > deadline) throw new Error(`fewer than ${count} successful scrapes of every target within ${timeoutMs} ms: ${describeTargets(seen)}`);
        await sleep(100);
      }
    },
  };
  return running;
}


function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
