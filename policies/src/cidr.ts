/**
 * IPv4 and IPv6 addresses and CIDR blocks, parsed once and matched without allocation.
 * An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports for an IPv4
 * client) matches IPv4 blocks as the IPv4 address it is, and IPv6 blocks as written.
 */

export type Cidr =
  | { family: 4; text: string; network: number; mask: number; prefix: number }
  | { family: 6; text: string; bytes: Uint8Array; prefix: number };

/** A parsed source address: its IPv4 form (plain or mapped) and/or its IPv6 form. */
export interface ParsedAddress {
  v4: number | null;
  v6: Uint8Array | null;
}

const V4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/** Dotted-quad IPv4 (no leading zeros, which some parsers read as octal) → 32-bit unsigned. */
export function parseIPv4(text: string): number | null {
  const m = V4.exec(text);
  if (!m) return null;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

/** IPv6 (with `::` and an optional dotted IPv4 tail; no zone id) → 16 bytes. */
export function parseIPv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  let head = text;
  let tail4: number | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    tail4 = parseIPv4(text.slice(lastColon + 1));
    if (tail4 === null) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0]);
  const right = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!left || !right) return null;
  let groups: number[];
  if (halves.length === 2) {
    const fill = 8 - left.length - right.length;
    if (fill < 1) return null;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = groups[i] >> 8;
    bytes[i * 2 + 1] = groups[i] & 0xff;
  }
  if (tail4 !== null) {
    bytes[12] = tail4 >>> 24;
    bytes[13] = (tail4 >>> 16) & 0xff;
    bytes[14] = (tail4 >>> 8) & 0xff;
    bytes[15] = tail4 & 0xff;
  }
  return bytes;
}

function mappedIPv4(bytes: Uint8Array): number | null {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return null;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return null;
  return ((bytes[12] << 24) | (bytes[13] << 16) | (bytes[14] << 8) | bytes[15]) >>> 0;
}

/** A source address as a socket reports it; null when it is not an IP address (or has a zone id). */
export function parseAddress(text: string | undefined | null): ParsedAddress | null {
  if (!text) return null;
  const v4 = parseIPv4(text);
  if (v4 !== null) return { v4, v6: null };
  const v6 = parseIPv6(text);
  if (v6 === null) return null;
  return { v4: mappedIPv4(v6), v6 };
}

/**
 * Parses `address/prefix` (or a bare address: one host). Host bits set below the prefix are an
 * error, since `10.0.0.1/8` is more likely a typo than a wish for 10.0.0.0/8.
 */
export function parseCidr(text: string): Cidr | { error: string } {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? null : text.slice(slash + 1);
  const v4 = parseIPv4(addr);
  const v6 = v4 === null ? parseIPv6(addr) : null;
  if (v4 === null && v6 === null) return { error: `${JSON.stringify(text)} is not an IPv4 or IPv6 address or CIDR block` };
  const max = v4 !== null ? 32 : 128;
  let prefix = max;
  if (prefixText !== null) {
    if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      return { error: `${JSON.stringify(text)}: the prefix length must be 0 to ${max}` };
    }
    prefix = Number(prefixText);
  }
  if (v4 !== null) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if (((v4 & mask) >>> 0) !== v4) {
      return { error: `${JSON.stringify(text)} has host bits set; did you mean ${formatIPv4((v4 & mask) >>> 0)}/${prefix}?` };
    }
    return { family: 4, text, network: v4, mask, prefix };
  }
  const bytes = v6!;
  for (let bit = prefix; bit < 128; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) {
      return { error: `${JSON.stringify(text)} has host bits set below /${prefix}` };
    }
  }
  return { family: 6, text, bytes, prefix };
}

export function formatIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export function cidrContains(cidr: Cidr, addr: ParsedAddress): boolean {
  if (cidr.family === 4) {
    return addr.v4 !== null && ((addr.v4 & cidr.mask) >>> 0) === cidr.network;
  }
  const bytes = addr.v6;
  if (bytes === null) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (bytes[full] & m) === cidr.bytes[full];
}
