// The same floor as bare-proxy.ts, but with undici's Pool for the upstream leg instead of
// http-proxy-middleware: a data point for whether changing the proxy library would move b/a.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const socketPath = process.argv[2];
const pool = new Pool('http://pool', { socketPath, connections: 64 });
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    pool
      .request({ path: '/v2/models/mnist/versions/1/infer', method: 'POST', headers: { 'content-type': 'application/json' }, body })
      .then(async (r) => {
        const answer = Buffer.from(await r.body.arrayBuffer());
        res.writeHead(r.statusCode, { 'content-type': 'application/json', 'content-length': answer.length });
        res.end(answer);
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
