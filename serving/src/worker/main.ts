// Entry point of one pool worker process: load and verify the model, serve OIP on the socket.
// It knows nothing about restarts; the supervisor in the gateway process does.
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import pino from 'pino';
import { sha256OfBytes } from '../file-digest.js';
import { startTracing, stopTracing } from '../tracing.js';
import { GraphConfigError, OnnxRunner } from './onnx-runner.js';
import { createPoolServer } from './pool-server.js';
import { EXIT_DO_NOT_RESTART } from '../exit-codes.js';
import { exitWhenGatewayGoes } from './parent-watch.js';
import { listenTarget, MODEL_FD_ENV, WORKER_SPEC_ENV, type WorkerSpec } from './worker-spec.js';

const spec = JSON.parse(process.env[WORKER_SPEC_ENV] ?? 'null') as WorkerSpec | null;
if (!spec) {
  console.error(`${WORKER_SPEC_ENV} is not set: this process is started by the vigil supervisor`);
  process.exit(EXIT_DO_NOT_RESTART);
}
const log = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'pool', model: spec.model, version: spec.version, worker: spec.index, pid: process.pid } });

// The gateway's death closes the watch pipe: a pool never outlives its gateway.
exitWhenGatewayGoes();

async function main(s: WorkerSpec): Promise<void> {
  startTracing('vigil-pool', { 'vigil.model': s.model, 'vigil.version': s.version });
  // Hash exactly the bytes handed to ONNX Runtime, so nothing can swap the file in between.
  // Sandboxed, the model comes open on a descriptor; otherwise by its path.
  const fd = process.env[MODEL_FD_ENV];
  const bytes = fd ? readFileSync(Number(fd)) : await readFile(s.modelPath);
  const digest = sha256OfBytes(bytes);
  if (digest !== s.digest) {
    log.fatal({ expected: s.digest, actual: digest }, 'model file does not match its pinned digest; refusing to serve');
    process.exit(EXIT_DO_NOT_RESTART);
  }
  let runner: OnnxRunner;
  try {
    runner = await OnnxRunner.create(bytes, s.signature, s.intraOpThreads, { batching: s.batching !== undefined });
  } catch (err) {
    if (!(err instanceof GraphConfigError)) throw err;
    // A graph that contradicts its config would fail the same way on every restart.
    log.fatal({ err }, `refusing to serve: ${err.message}`);
    process.exit(EXIT_DO_NOT_RESTART);
  }
  const server = createPoolServer({
    model: s.model,
    version: s.version,
    signature: s.signature,
    runner,
    maxBodyBytes: s.maxBodyBytes,
    screen: s.screen,
    batching: s.batching,
    runTimeoutMs: s.runTimeoutMs,
    onError: (err) => log.error({ err }, 'inference failed'),
  });
  server.keepAliveTimeout = 60_000;
  const target = listenTarget(s.socketPath);
  if (typeof target === 'string') await rm(target, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, resolve);
  });
  log.info({ socket: s.socketPath }, 'pool worker serving');

  const shutdown = () => {
    // Batched spans are flushed before the process goes.
    server.close(() => void stopTracing().finally(() => process.exit(0)));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main(spec).catch((err: unknown) => {
  log.fatal({ err }, 'pool worker failed to start');
  process.exit(1);
});
