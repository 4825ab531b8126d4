import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADER_LENGTH } from '../../oip/src/binary-data.js';

/**
 * Reads a request body, refusing it (and dropping the connection) once it is over `limit`
 * bytes: `tooLarge` names the error each server answers with. Shared by the pool worker's
 * server and `vigil pool serve`.
 */
export function readBodyWithin(req: IncomingMessage, limit: number, tooLarge: () => Error, cutOff?: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(tooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
    if (cutOff) req.on('aborted', () => reject(cutOff()));
  });
}

/** A JSON answer with its length; a response already under way is cut off instead. */
export function sendJson(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** An inference answer: plain JSON, or a JSON header and binary tensor data (its header's length in HEADER_LENGTH). */
export function sendAnswer(res: ServerResponse, answer: { body: Buffer; headerLength?: number }, headers: Record<string, string> = {}): void {
  if (answer.headerLength === undefined) return sendJson(res, 200, answer.body, headers);
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(answer.headerLength), 'content-length': answer.body.length });
  res.end(answer.body);
}
