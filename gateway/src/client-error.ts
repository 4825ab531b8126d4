import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { RequestAuditRecord } from './audit/audit-record.js';
import { ERRORS, VigilError, type ErrorCode } from './errors.js';
import { INVALID_REQUEST_CODES, type AuditSink } from './respond.js';

/** What each of Node's parser failures means to a client, and the code vigil answers with. */
function classify(code: string | undefined): { code: ErrorCode; message: string } | null {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return null; // the client is gone: nothing was asked, nobody to answer
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', message: 'the request headers exceed 16 KiB' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time (server.header_timeout_ms for its headers, server.client_timeout_ms for all of it)' };
    default:
      return { code: 'BAD_REQUEST_FRAMING', message: `the request is not well-formed HTTP/1.1 (${code ?? 'parse error'}); the connection is closed` };
  }
}

const METHOD = /^([A-Z]{1,16}) /;

/**
 * Node's `clientError`: a request the HTTP parser refused (Content-Length with Transfer-Encoding,
 * a malformed request line, oversized headers, a timeout). Without this handler Node answers with
 * a bare reply and nothing is recorded: smuggling attempts would leave no trace. Each gets one
 * audit record (never the raw bytes: they may hold credentials), a JSON error with a request id,
 * and a closed connection.
 */
export function createClientErrorHandler(deps: { audit: AuditSink; auditFailed: (err: unknown) => void; onRefused: (code: ErrorCode) => void }) {
  return function onClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket): void {
    const kind = classify(err.code);
    if (!kind || socket.destroyed) {
      socket.destroy();
      return;
    }
    const id = randomUUID();
    const { status } = ERRORS[kind.code];
    const method = METHOD.exec(err.rawPacket?.subarray(0, 24).toString('latin1') ?? '')?.[1] ?? '';
    const { body } = new VigilError(kind.code, kind.message);
    const record: RequestAuditRecord = {
      type: 'request',
      time: new Date().toISOString(),
      request_id: id,
      client_request_id: null,
      trace_id: null,
      principal: 'unauthenticated',
      auth_method: 'none',
      source: socket.remoteAddress ?? 'unknown',
      method,
      action: null,
      model: null,
      version: null,
      decision: INVALID_REQUEST_CODES.has(kind.code) ? 'invalid' : 'deny',
      rule: 'stage:framing',
      code: kind.code,
      modes: {},
      shadow_denials: [],
      status,
      latency_ms: 0,
      bytes_in: err.rawPacket?.length ?? 0,
      bytes_out: Buffer.byteLength(body),
      batch: null,
    };
    deps.onRefused(kind.code);
    // The refusal is sent whether or not its record could be written: it answers nothing.
    void deps.audit
      .append(record)
      .catch((e: unknown) => deps.auditFailed(e))
      .finally(() => {
        if (socket.writable) {
          socket.end(
            `HTTP/1.1 ${status} ${reason(status)}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
          );
        }
        socket.destroySoon();
      });
  };
}

function reason(status: number): string {
  return status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
}
