import assert from 'node:assert/strict';
import { BlockList, isIP } from 'node:net';
import { describe, test } from 'node:test';
import { cidrContains, parseAddress, parseCidr, type Cidr } from '../../policies/src/cidr.js';

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BLOCKS = ['10.0.0.0/8', '10.20.0.0/16', '192.168.1.128/25', '0.0.0.0/0', '127.0.0.1', '2001:db8::/32', '2001:db8:abcd:12::/63', 'fe80::/10', '::/0', '::1/128', '::ffff:0:0/96'];

describe('addresses and CIDR blocks', () => {
  test('membership agrees with node:net BlockList on random addresses near each block', () => {
    const rand = prng(42);
    const hex = () => Math.floor(rand() * 0x10000).toString(16);
    for (const text of BLOCKS) {
      const cidr = parseCidr(text) as Cidr;
      assert.ok(!('error' in cidr), text);
      const family = cidr.family === 4 ? 'ipv4' : 'ipv6';
      const list = new BlockList();
      const [addr, prefix] = text.split('/');
      list.addSubnet(addr, prefix === undefined ? (cidr.family === 4 ? 32 : 128) : Number(prefix), family);
      for (let i = 0; i < 400; i++) {
        let candidate: string;
        if (cidr.family === 4) {
          const base = addr.split('.').map(Number);
          const octets = base.map((o, j) => (rand() < 0.5 + j * 0.1 ? o : Math.floor(rand() * 256)));
          candidate = octets.join('.');
        } else {
          const groups = addr.includes('::') ? ['2001', 'db8', 'abcd', '12', '0', '0', '0', '1'] : addr.split(':');
          candidate = groups.map((g) => (rand() < 0.6 ? g : hex())).join(':');
        }
        const parsed = parseAddress(candidate);
        assert.ok(parsed, candidate);
        assert.equal(cidrContains(cidr, parsed), list.check(candidate, family), `${candidate} in ${text}`);
      }
    }
  });

  test('IPv6 forms parse to the same address', () => {
    const same = [
      ['::1', '0:0:0:0:0:0:0:1'],
      ['2001:db8::1', '2001:0db8:0000:0000:0000:0000:0000:0001'],
      ['::ffff:10.1.2.3', '::ffff:a01:203'],
      ['1::', '1:0:0:0:0:0:0:0'],
      ['::', '0:0:0:0:0:0:0:0'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ];
    for (const [a, b] of same) assert.deepEqual(parseAddress(a), parseAddress(b), `${a} = ${b}`);
  });

  test('an IPv4-mapped IPv6 address matches IPv4 blocks, and IPv6 blocks as written', () => {
    const mapped = parseAddress('::ffff:10.20.3.4')!;
    assert.equal(cidrContains(parseCidr('10.20.0.0/16') as Cidr, mapped), true);
    assert.equal(cidrContains(parseCidr('10.21.0.0/16') as Cidr, mapped), false);
    assert.equal(cidrContains(parseCidr('::ffff:0:0/96') as Cidr, mapped), true);
    assert.equal(cidrContains(parseCidr('2001:db8::/32') as Cidr, mapped), false);
    // A plain IPv4 address is not an IPv6 one: ::/0 does not match it.
    assert.equal(cidrContains(parseCidr('::/0') as Cidr, parseAddress('10.20.3.4')!), false);
    // An IPv4-compatible (not mapped) address is not treated as IPv4.
    assert.equal(cidrContains(parseCidr('10.20.0.0/16') as Cidr, parseAddress('::10.20.3.4')!), false);
  });

  test('anything that is not an address is refused, as node:net would', () => {
    const bad = ['', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', ':::', '1::2::3', 'g::1', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.256', 'fe80::1%eth0', '1:2:3:4:5:6:7::8:9', ' 1.2.3.4', '12345::'];
    for (const a of bad) {
      assert.equal(parseAddress(a), null, a);
      if (a !== '01.2.3.4' && !a.includes('%')) assert.equal(isIP(a), 0, `node accepts ${a}`);
    }
    assert.equal(parseAddress(undefined), null);
  });

  test('a CIDR with host bits set, a bad prefix or a bad address is refused with a reason', () => {
    for (const [text, reason] of [
      ['10.0.0.1/8', /did you mean 10\.0\.0\.0\/8/],
      ['2001:db8::1/32', /host bits/],
      ['10.0.0.0/33', /0 to 32/],
      ['::/129', /0 to 128/],
      ['10.0.0.0/', /prefix length/],
      ['10.0.0.0/8/8', /prefix length/],
      ['ten/8', /not an IPv4 or IPv6/],
    ] as const) {
      const c = parseCidr(text);
      assert.ok('error' in c, text);
      assert.match(c.error, reason);
    }
  });
});
