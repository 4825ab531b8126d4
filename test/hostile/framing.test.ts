// What Node's HTTP parser refuses, and what it would silently drop (issue 11, item 13): each gets
// a JSON error with a request id and one audit record, never Node's bare reply.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { auditRecords } from '../helpers/audit-records.js';
import { startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';

/** Writes raw bytes on a fresh connection and returns everything the server sends back. */
async function exchange(port: number, bytes: string, opts: { waitMs?: number } = {}): Promise<{ text: string; status: number; body: any; headers: string }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  if (bytes) socket.write(bytes);
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, opts.waitMs ?? 5_000))]);
  socket.destroy();
  const [headers, body] = text.split('\r\n\r\n');
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    json = undefined;
  }
  return { text, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: json, headers: headers ?? '' };
}

describe('hostile: requests the HTTP parser refuses are answered in JSON and audited', () => {
  let vigil: TestVigil;
  before(async () => {
    vigil = await startTestVigil({ server: { header_timeout_ms: 800, max_body_bytes: 8192, max_buffered_body_bytes: 65536 } });
  });
  after(() => vigil.stop());

  async function audited(code: string, count = 1) {
    return waitFor(`${count} audit record(s) with code ${code}`, async () => {
      const found = (await auditRecords(vigil.config.audit.dir)).filter((r) => r.type === 'request' && r.code === code);
      return found.length >= count ? found : undefined;
    });
  }

  test('Content-Length with Transfer-Encoding (a smuggling attempt): 400 BAD_REQUEST_FRAMING, audited', async () => {
    const r = await exchange(
      vigil.port,
      'POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /v2/models/secret HTTP/1.1\r\nhost: x\r\n\r\n',
    );
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.code, 'BAD_REQUEST_FRAMING');
    const id = /x-request-id: ([0-9a-f-]{36})/i.exec(r.headers)?.[1];
    assert.ok(id, 'the answer carries a request id');
    assert.doesNotMatch(r.text, /secret/, 'nothing after the bad framing is served');
    const [record] = (await audited('BAD_REQUEST_FRAMING')).filter((x) => x.type === 'request' && x.request_id === id);
    assert.ok(record && record.type === 'request');
    assert.equal(record.status, 400);
    assert.equal(record.method, 'POST');
    // Malformed framing is audited as invalid (whoever sent it), with the framing stage as its rule.
    assert.equal(record.decision, 'invalid');
    assert.equal(record.rule, 'stage:framing');
  });

  test('a malformed request line: 400 BAD_REQUEST_FRAMING, audited', async () => {
    const before = (await auditRecords(vigil.config.audit.dir)).length;
    const r = await exchange(vigil.port, 'GARBAGE\x01 / HTTP/9\r\n\r\n');
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'BAD_REQUEST_FRAMING');
    await waitFor('the record', async () => (await auditRecords(vigil.config.audit.dir)).length > before);
  });

  test('headers over 16 KiB: 431 HEADERS_TOO_LARGE, audited, never a credential in the record', async () => {
    const r = await exchange(vigil.port, `GET /v2/models/digits HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sekret-token\r\nx-pad: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(r.status, 431);
    assert.equal(r.body.code, 'HEADERS_TOO_LARGE');
    const records = await audited('HEADERS_TOO_LARGE');
    assert.doesNotMatch(JSON.stringify(records), /sekret/);
  });

  test('more than 100 header lines: 431, not a request acted on with its later headers dropped', async () => {
    const lines = Array.from({ length: 150 }, (_, i) => `x-h${i}: v\r\n`).join('');
    // A credential after line 100 would have been dropped by Node without a word.
    const r = await exchange(vigil.port, `GET /v2/models/digits HTTP/1.1\r\nhost: x\r\n${lines}authorization: Bearer a.b.c\r\nconnection: close\r\n\r\n`);
    assert.equal(r.status, 431);
    assert.equal(r.body.code, 'HEADERS_TOO_LARGE');
    await audited('HEADERS_TOO_LARGE', 2);
  });

  test('Expect: 100-continue with a body over the limit: 413 at once, no 100 Continue', async () => {
    const r = await exchange(
      vigil.port,
      `POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\n${Object.entries(await vigil.auth()).map(([k, v]) => `${k}: ${v}`)[0]}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\nexpect: 100-continue\r\n\r\n`,
    );
    assert.doesNotMatch(r.text, /100 Continue/);
    assert.equal(r.status, 413);
    assert.equal(r.body.code, 'BODY_TOO_LARGE');
  });

  test('a connection that sends nothing is closed after server.header_timeout_ms with 408, audited', async () => {
    const started = Date.now();
    const r = await exchange(vigil.port, '', { waitMs: 5_000 });
    const took = Date.now() - started;
    assert.equal(r.status, 408, r.text);
    assert.equal(r.body.code, 'REQUEST_TIMEOUT');
    assert.ok(took < 4_000, `closed after ${took} ms`);
    await audited('REQUEST_TIMEOUT');
  });

  test('slowloris (headers trickling in) is cut off at the same timeout', async () => {
    const socket = connect(vigil.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const closed = once(socket, 'close');
    const drip = setInterval(() => socket.writable && socket.write('x-a: b\r\n'), 100);
    socket.write('GET /v2/health/live HTTP/1.1\r\nhost: x\r\n');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
    clearInterval(drip);
    socket.destroy();
    assert.match(text, /^HTTP\/1\.1 408 /);
  });
});
