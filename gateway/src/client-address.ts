import type { IncomingMessage } from 'node:http';
import { cidrContains, parseAddress, parseCidr, type Cidr } from '../../policies/src/cidr.js';

export type SourceOf = (req: IncomingMessage) => string;

const MAX_HOPS = 32;

/** The client is the socket's peer: nothing a client sends can change it. */
export const peerAddress: SourceOf = (req) => req.socket.remoteAddress ?? 'unknown';

/**
 * The client address, believing X-Forwarded-For only from `trusted` proxies: from the right, each
 * hop a trusted proxy appended is skipped; the first address not in `trusted` is the client
 * (nginx's real_ip_recursive, Envoy's trusted hops by CIDR). Everything left of it was written
 * by the client and is never read. A peer not in `trusted`, a missing or malformed header: the peer.
 */
export function sourceResolver(trusted: readonly string[]): SourceOf {
  if (trusted.length === 0) return peerAddress;
  const blocks = trusted.map((t) => parseCidr(t)).filter((c): c is Cidr => !('error' in c));
  const isTrusted = (text: string) => {
    const addr = parseAddress(text);
    return addr !== null && blocks.some((b) => cidrContains(b, addr));
  };
  return (req) => {
    const peer = peerAddress(req);
    if (!isTrusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    if (typeof header !== 'string') return peer;
    const hops = header.split(',');
    let client = peer;
    for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_HOPS; i--, n++) {
      const hop = hops[i].trim();
      if (parseAddress(hop) === null) return client;
      client = hop;
      if (!isTrusted(hop)) return hop;
    }
    return client;
  };
}
