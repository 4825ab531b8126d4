import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createPoolServer } from '../../serving/src/worker/pool-server.js';
import type { Feeds, OnnxRunner } from '../../serving/src/worker/onnx-runner.js';
import type { ModelSignature } from '../../oip/src/signature.js';
import { rawRequest } from '../helpers/vigil-harness.js';

const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
  maxBatchSize: 4,
};

/**
 * ONNX Runtime runs off the event loop, so a run that never returns would leave the worker
 * answering its health probe while every request queues behind the stuck run forever. The pool
 * server must then report itself not ready, so the supervisor replaces it. The runner here is a
 * stand-in whose run never finishes (no real model can be made to hang on demand).
 */
test('a pool whose model run is stuck past the run timeout reports not ready; before that, and idle, it is ready', async () => {
  let started = 0;
  const stuck = {
    feedsOf: (): Feeds => ({ rows: 1, tensors: { input: { datatype: 'FP32', dims: [1, 2], data: new Float32Array(2) } } }),
    wantedOutputs: () => ['y'],
    run: () => {
      started++;
      return new Promise<never>(() => undefined);
    },
  } as unknown as OnnxRunner;
  const server = createPoolServer({ model: 'm', version: '1', signature: SIGNATURE, runner: stuck, maxBodyBytes: 1 << 20, runTimeoutMs: 150, onError: () => undefined });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    assert.equal((await rawRequest(port, 'GET', '/v2/health/ready')).status, 200, 'idle: ready');
    const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] });
    const hung = rawRequest(port, 'POST', '/v2/models/m/versions/1/infer', { headers: { 'content-type': 'application/json' }, body }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(started, 1, 'the run started');
    assert.equal((await rawRequest(port, 'GET', '/v2/health/ready')).status, 200, 'a run in progress, under the timeout: still ready');
    await new Promise((r) => setTimeout(r, 200));
    const r = await rawRequest(port, 'GET', '/v2/health/ready');
    assert.equal(r.status, 503, 'stuck past the run timeout: not ready');
    assert.equal(r.json.code, 'RUN_STUCK');
    void hung;
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
