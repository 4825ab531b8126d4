import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { VigilError } from './errors.js';

export interface InferenceServerOptions {
  /** Connections open at once; past it a new one gets a canned 503 OVERLOADED and is closed. */
  maxConnections: number;
  /** Time a connection has to send complete request headers (idle and slowloris connections). */
  headerTimeoutMs: number;
  /** Time a client has to send its whole request. */
  clientTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Header lines beyond this are refused (431) rather than silently dropped by Node. */
  maxHeaderLines: number;
  onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  onClientError: (err: NodeJS.ErrnoException, socket: Socket) => void;
  /** A connection refused at the connection bound (no HTTP request was read from it). */
  onConnectionRefused: () => void;
}

const OVERLOADED_REPLY = (() => {
  const { body } = new VigilError('OVERLOADED', 'vigil is overloaded: too many open connections (server.max_connections); retry shortly');
  return `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`;
})();

/**
 * The inference port's HTTP server, with the bounds a public listener needs: a cap on open
 * connections (kept below the process's descriptor limit, so pool probes and spawns always have
 * descriptors), short header timeouts (idle and slowloris connections go), header-line and
 * framing checks that answer and audit instead of Node's bare replies, and `Expect:
 * 100-continue` left to the body stage (so an oversized upload is refused before it is sent).
 */
export function createInferenceServer(opts: InferenceServerOptions): { server: Server; openConnections: () => number } {
  let open = 0;
  const server = createServer(
    {
      headersTimeout: opts.headerTimeoutMs,
      requestTimeout: opts.clientTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, opts.headerTimeoutMs),
    },
    opts.onRequest,
  );
  server.on('checkContinue', opts.onRequest);
  server.on('clientError', opts.onClientError);
  server.on('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open > opts.maxConnections) {
      opts.onConnectionRefused();
      socket.end(OVERLOADED_REPLY);
      socket.destroySoon();
    }
  });
  // Node keeps the first maxHeadersCount lines and drops the rest without a word; one more than
  // the bound lets the framing check see that there were too many.
  server.maxHeadersCount = opts.maxHeaderLines + 1;
  return { server, openConnections: () => open };
}
