import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalPoolBackend } from '../../serving/src/local-pool-backend.js';
import type { ModelVersion } from '../../serving/src/model-repository.js';
import { signatureOf } from '../../serving/src/model-config.js';
import type { Supervisor, WorkerDefinition } from '../../serving/src/supervisor/supervisor.js';
import { TRACING_ENV } from '../../serving/src/tracing.js';
import { WORKER_SPEC_ENV, type WorkerSpec } from '../../serving/src/worker/worker-spec.js';
import type { ServedVersion } from './model-registry.js';
import type { ModelScreening } from './screening/model-screening.js';

/** Where traces go is the one part of the gateway's environment a pool shares. */
function tracingEnv(): Record<string, string> {
  return Object.fromEntries(TRACING_ENV.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
}

const WORKER_MAIN = fileURLToPath(new URL('../../serving/src/worker/main.js', import.meta.url));
// sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH = 107;

/** Turns the repository scan into pools on the supervisor and the gateway's view of them. */
export function createPools(
  versions: ModelVersion[],
  supervisor: Supervisor,
  runtimeDir: string,
  opts: { maxBodyBytes: number; runTimeoutMs: number; logLevel: string; maxQueue: number; screening: ReadonlyMap<ModelVersion, ModelScreening> },
): ServedVersion[] {
  return versions.map((v): ServedVersion => {
    if (v.status === 'refused') return { model: v.name, version: v.version, status: 'refused', reason: v.reason };
    const signature = signatureOf(v.config);
    const screening = opts.screening.get(v)!;
    const definitions: WorkerDefinition[] = [];
    for (let index = 0; index < v.config.pool.workers; index++) {
      const socketPath = join(runtimeDir, `${v.name}.${v.version}.${index}.sock`);
      if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
        throw new Error(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes; choose a shorter models.runtime_dir`);
      }
      const spec: WorkerSpec = {
        model: v.name,
        version: v.version,
        modelPath: v.modelPath,
        digest: v.config.digest,
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
      definitions.push({
        socketPath,
        launch: {
          id: `${v.name}/${v.version}#${index}`,
          command: process.execPath,
          args: [WORKER_MAIN],
          // A pool sees only what it needs: none of the gateway's secrets are in its environment.
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: opts.logLevel, ...tracingEnv(), [WORKER_SPEC_ENV]: JSON.stringify(spec) },
        },
      });
    }
    const pool = supervisor.addPool(`${v.name}/${v.version}`, definitions);
    const backend = new LocalPoolBackend(pool, { maxQueue: opts.maxQueue });
    return { model: v.name, version: v.version, status: 'serving', config: v.config, signature, pool, backend, screening };
  });
}
