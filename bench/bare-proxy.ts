// The floor for (b): a bare node:http + http-proxy-middleware hop with a keep-alive agent to the
// same pool socket: no routing, validation or pipeline. Started by gateway-overhead.ts.
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyMiddleware, proxyEventsPlugin } from 'http-proxy-middleware';

const socketPath = process.argv[2];
const proxy = createProxyMiddleware({
  target: { socketPath } as unknown as string,
  agent: new Agent({ keepAlive: true, maxSockets: 256 }),
  ejectPlugins: true,
  plugins: [proxyEventsPlugin],
});
const server = createServer((req, res) => {
  req.url = '/v2/models/mnist/versions/1/infer';
  void proxy(req, res, () => res.end());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
