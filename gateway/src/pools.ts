import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalPoolBackend } from '../../serving/src/local-pool-backend.js';
import { readRemoteTls, RemoteOipBackend, type RemoteEvent } from '../../serving/src/remote/remote-backend.js';
import type { ModelVersion } from '../../serving/src/model-repository.js';
import { signatureOf } from '../../serving/src/model-config.js';
import type { Logger } from 'pino';
import type { Launcher } from '../../serving/src/supervisor/launcher.js';
import { Supervisor, type WorkerDefinition } from '../../serving/src/supervisor/supervisor.js';
import type { VigilConfig } from './config/schema.js';
import { TRACING_ENV } from '../../serving/src/tracing.js';
import { MODEL_FD_ENV, WORKER_SPEC_ENV, type WorkerSpec } from '../../serving/src/worker/worker-spec.js';
import type { ServedVersion } from './model-registry.js';
import type { ModelScreening } from './screening/model-screening.js';

/**
 * Where traces go is the one part of the gateway's environment a pool shares. A sandboxed worker
 * has no network to export over, and must not hold the collector's credentials (OTLP headers).
 */
function tracingEnv(sandboxed: boolean): Record<string, string> {
  return Object.fromEntries(TRACING_ENV.filter((k) => process.env[k] !== undefined && !(sandboxed && k === 'OTEL_EXPORTER_OTLP_HEADERS')).map((k) => [k, process.env[k]!]));
}

const WORKER_MAIN = fileURLToPath(new URL('../../serving/src/worker/main.js', import.meta.url));
/** The project root (above dist/): its compiled code and the packages the worker imports. */
const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * What a worker needs of the project, read-only: the compiled code, the installed packages
 * (onnxruntime-node's native library among them; no secrets live there) and package.json (it
 * makes dist/ ES modules). Node itself and the system libraries come from /usr (bwrap.ts); a
 * node installed elsewhere is bound where it is.
 */
export function workerCode(): string[] {
  return codeFor(WORKER_MAIN);
}

function codeFor(main: string): string[] {
  const paths = ['dist', 'node_modules', 'package.json'].map((p) => join(PROJECT_ROOT, p));
  if (!main.startsWith(join(PROJECT_ROOT, 'dist'))) paths.push(main);
  if (!process.execPath.startsWith('/usr/')) paths.push(process.execPath);
  return paths;
}
// sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH = 107;

/** The supervisor of local pools, as `pools:` in the config sets it up (vigil start and vigil pool serve). */
export function supervisorOf(pools: VigilConfig['pools'], launcher: Launcher, log: Logger): Supervisor {
  const { restart, health } = pools;
  return new Supervisor({
    launcher,
    log,
    restart: {
      initialBackoffMs: restart.initial_backoff_ms,
      maxBackoffMs: restart.max_backoff_ms,
      maxRestarts: restart.max_restarts,
      windowMs: restart.window_ms,
      quarantineRetryMs: restart.quarantine_retry_ms,
      maxQuarantineRetryMs: restart.max_quarantine_retry_ms,
    },
    health: { intervalMs: health.interval_ms, timeoutMs: health.timeout_ms, failuresBeforeReplace: health.failures_before_replace, startTimeoutMs: pools.start_timeout_ms },
  });
}

export interface PoolOptions {
  maxBodyBytes: number;
  runTimeoutMs: number;
  logLevel: string;
  maxQueue: number;
  screening: ReadonlyMap<ModelVersion, ModelScreening>;
  /** A remote backend's health or circuit changed. */
  onRemoteEvent: (model: string, version: string, e: RemoteEvent) => void;
  /** Whether workers run sandboxed (pools.isolation in force). */
  sandboxed: boolean;
  /** Tests only (a hostile worker in the sandbox): the script a model version's workers run instead of vigil's. */
  workerMain?: (model: string, version: string) => string | undefined;
  /** Which live load these pools are for (0 at start): a version loaded again gets sockets of its own beside the old pool's. */
  generation?: number;
}

/**
 * Turns the repository scan into backends, and the gateway's view of them: pools on the
 * supervisor for local versions, a remote OIP client for `backend: oip-http` ones.
 */
export function createPools(versions: ModelVersion[], supervisor: Supervisor, runtimeDir: string, opts: PoolOptions): ServedVersion[] {
  return versions.map((v): ServedVersion => {
    if (v.status === 'refused') return { model: v.name, version: v.version, status: 'refused', reason: v.reason };
    const signature = signatureOf(v.config);
    const screening = opts.screening.get(v)!;
    const backendConfig = v.config.backend;
    if (backendConfig.kind === 'oip-http') {
      let tls;
      try {
        tls = readRemoteTls(backendConfig, v.dir);
      } catch (err) {
        return { model: v.name, version: v.version, status: 'refused', reason: (err as Error).message };
      }
      const target = { model: v.name, version: v.version, signature, screen: screening.pool, maxQueue: opts.maxQueue, requestTimeoutMs: opts.runTimeoutMs };
      const backend = new RemoteOipBackend(backendConfig, target, tls, (e) => opts.onRemoteEvent(v.name, v.version, e));
      return { model: v.name, version: v.version, status: 'serving', dir: v.dir, config: v.config, signature, backend, screening, signer: v.signer };
    }
    const definitions: WorkerDefinition[] = [];
    for (let index = 0; index < v.config.pool.workers; index++) {
      // A directory per worker's socket (a sandboxed worker sees none of them: it is handed its socket).
      const socketDir = join(runtimeDir, opts.generation ? `${v.name}.${v.version}.g${opts.generation}.${index}` : `${v.name}.${v.version}.${index}`);
      const socketPath = join(socketDir, 'pool.sock');
      if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
        throw new Error(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes; choose a shorter models.runtime_dir`);
      }
      mkdirSync(socketDir, { recursive: true, mode: 0o700 });
      const spec: WorkerSpec = {
        model: v.name,
        version: v.version,
        modelPath: v.modelPath,
        digest: v.config.digest!,
        socketPath,
        signature,
        intraOpThreads: v.config.pool.intra_op_threads,
        maxBodyBytes: opts.maxBodyBytes,
        runTimeoutMs: opts.runTimeoutMs,
        index,
        screen: screening.pool,
        batching: v.config.dynamic_batching && {
          maxItems: v.config.max_batch_size,
          maxQueueDelayMs: v.config.dynamic_batching.max_queue_delay_microseconds / 1000,
        },
      };
      const main = opts.workerMain?.(v.name, v.version) ?? WORKER_MAIN;
      // Each worker writes its spans in a directory of its own: never where the gateway's file is
      // (a sandboxed worker could otherwise swap that file for a link and have the gateway write anywhere).
      const traces = process.env.VIGIL_TRACES_DIR ? resolve(process.env.VIGIL_TRACES_DIR) : undefined;
      const workerTraces = traces && join(traces, 'pools', `${v.name}.${v.version}.${index}`);
      if (workerTraces) mkdirSync(workerTraces, { recursive: true });
      definitions.push({
        socketPath,
        launch: {
          id: `${v.name}/${v.version}#${index}`,
          command: process.execPath,
          args: [main],
          // A pool sees only what it needs: none of the gateway's secrets are in its environment.
          // ONNX Runtime 1.30 on Linux starts a telemetry client that uploads over HTTPS unless
          // told not to: a pool must not phone anyone (and in the sandbox it cannot).
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            LOG_LEVEL: opts.logLevel,
            ORT_DISABLE_TELEMETRY: '1',
            ...tracingEnv(opts.sandboxed),
            ...(workerTraces ? { VIGIL_TRACES_DIR: workerTraces } : {}),
            [WORKER_SPEC_ENV]: JSON.stringify(spec),
          },
          // Sandboxed, it sees vigil's code (and its traces directory), and gets its model file
          // open and its socket listening: no path to either, no right to write beside them.
          sandbox: {
            readOnly: codeFor(main),
            writable: workerTraces ? [workerTraces] : [],
            files: { [MODEL_FD_ENV]: v.modelPath },
            listen: socketPath,
            resources: v.config.pool.resources && { memoryMb: v.config.pool.resources.memory_mb, cpus: v.config.pool.resources.cpus, pids: v.config.pool.resources.pids },
          },
        },
      });
    }
    const pool = supervisor.addPool(`${v.name}/${v.version}`, definitions);
    const backend = new LocalPoolBackend(pool, { maxQueue: opts.maxQueue });
    return { model: v.name, version: v.version, status: 'serving', dir: v.dir, config: v.config, signature, pool, backend, screening, signer: v.signer };
  });
}
