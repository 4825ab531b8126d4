import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** An identity provider's JWKS endpoints on loopback, each path answering as the test sets it. */
export interface FakeIdp {
  port: number;
  url(path: string): string;
  /** Sets (or replaces) what `path` answers. */
  serve(path: string, handler: Handler): void;
  /** Requests `path` has received. */
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startFakeIdp(): Promise<FakeIdp> {
  const handlers = new Map<string, Handler>();
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const handler = handlers.get(path);
    if (!handler) return void res.writeHead(404).end();
    void Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    serve: (path, handler) => void handlers.set(path, handler),
    hits: (path) => hits.get(path) ?? 0,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Answers with this key set as JSON. */
export function jwksHandler(keys: JWK[]): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
    res.end(JSON.stringify({ keys }));
  };
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** The public half as published in a JWKS. */
  jwk: JWK;
}

export async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** A token of `issuer` for audience `vigil`, valid for 10 minutes, signed with `key` under its kid. */
export function mintToken(key: SigningKey, issuer: string, claims: Record<string, unknown> = {}, sub = 'alice'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['analyst'], ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer(issuer)
    .setAudience('vigil')
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(key.privateKey);
}
