import type { PoolScreenSpec } from '../../../detectors/src/squeeze/pool-screen.js';
import type { ModelSignature } from '../../../oip/src/signature.js';

/** Everything a pool worker process needs, handed over in one environment variable. */
export interface WorkerSpec {
  model: string;
  version: string;
  modelPath: string;
  /** The worker refuses to serve unless the bytes it loads hash to this. */
  digest: string;
  socketPath: string;
  signature: ModelSignature;
  intraOpThreads: number;
  maxBodyBytes: number;
  /** The worker's index inside its pool, for logs. */
  index: number;
  /** Screening inside the run (feature squeezing, predictions for extraction detection); absent: none. */
  screen?: PoolScreenSpec;
  /** Dynamic batching (model.yaml `dynamic_batching`); absent: one request per run. */
  batching?: BatchingSpec;
  /** A run longer than this means the worker is stuck (the gateway's request timeout). */
  runTimeoutMs: number;
}

export interface BatchingSpec {
  /** Items a merged run may hold: the model's max_batch_size. */
  maxItems: number;
  maxQueueDelayMs: number;
}

export const WORKER_SPEC_ENV = 'VIGIL_WORKER_SPEC';

/** Set when the model file is handed over open (a sandboxed worker): the descriptor to read it from. */
export const MODEL_FD_ENV = 'VIGIL_MODEL_FD';

/**
 * Set when the gateway made the worker's listening socket and passed it (a sandboxed worker): the
 * descriptor to accept on. The worker then needs no writable directory to make one in.
 */
export const LISTEN_FD_ENV = 'VIGIL_LISTEN_FD';

/** Where a worker listens: the socket the gateway passed, else its socket path. */
export function listenTarget(socketPath: string): string | { fd: number } {
  const fd = process.env[LISTEN_FD_ENV];
  return fd ? { fd: Number(fd) } : socketPath;
}
