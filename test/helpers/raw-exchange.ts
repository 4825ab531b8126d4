import { connect } from 'node:net';

/**
 * One request written byte for byte on a fresh connection (headers exactly as given: no
 * Content-Length or Transfer-Encoding added), and the answer read until the server has sent a
 * whole one (by its Content-Length).
 */
export function rawExchange(port: number, request: string | Buffer, timeoutMs = 5_000): Promise<{ head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no whole answer within ${timeoutMs} ms: ${received.toString('latin1').slice(0, 200)}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = received.subarray(0, end).toString('latin1');
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (received.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ head, body: received.subarray(end + 4, end + 4 + length).toString('utf8') });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(request);
  });
}
