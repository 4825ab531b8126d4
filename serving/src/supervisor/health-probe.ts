import { request } from 'node:http';

/**
 * What a probe found. `inconclusive`: the failure was the gateway's own (no descriptor for the
 * socket, or an event loop so busy the timer fired late), which says nothing about the worker:
 * counting it once killed every healthy worker under a connection flood.
 */
export type ProbeResult = 'ready' | 'not-ready' | 'inconclusive';

/** Errors that mean this process is out of a resource, not that the worker is down. */
export const GATEWAY_SIDE_ERRORS = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM', 'ENOBUFS']);

/** Asks the worker `GET /v2/health/ready` on its socket: ready only on 200 within the timeout. */
export function probeReady(socketPath: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request({ socketPath, path: '/v2/health/ready', method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? 'ready' : 'not-ready');
    });
    req.on('timeout', () => {
      // A timer that fires far past its time means our own loop was blocked, not the worker slow.
      const late = performance.now() - started > timeoutMs * 1.5 + 100;
      req.destroy();
      resolve(late ? 'inconclusive' : 'not-ready');
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(GATEWAY_SIDE_ERRORS.has(err.code ?? '') ? 'inconclusive' : 'not-ready'));
    req.end();
  });
}
