import { Socket } from 'node:net';

/** The fd on which a worker watches for its gateway: a pipe the gateway holds open and never writes. */
export const PARENT_WATCH_FD = 3;

/**
 * Exits when the gateway goes: its end of the pipe on PARENT_WATCH_FD closes, so the worker reads
 * EOF. A one-way pipe rather than Node's IPC channel: the gateway never reads from it, so a
 * worker cannot flood the gateway through it (Node buffers an IPC line without bound).
 */
export function exitWhenGatewayGoes(): void {
  let watch: Socket;
  try {
    watch = new Socket({ fd: PARENT_WATCH_FD, readable: true, writable: false });
  } catch {
    return; // started by hand, without the pipe
  }
  watch.on('data', () => undefined);
  watch.on('end', () => process.exit(0));
  watch.on('close', () => process.exit(0));
  watch.on('error', () => process.exit(0));
  watch.unref();
}
