import { getRandomValues } from 'node:crypto';

/** Uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * xoshiro128** (Blackman and Vigna) over a 128-bit seed. Hand-written: it is seeded per row from a
 * keyed digest (see pool-screen.ts), which node:crypto's generators cannot be, and it must give
 * the same draws for the same seed in every process.
 */
export function seededRng(seed: ArrayLike<number>): Rng {
  let a = seed[0] >>> 0;
  let b = seed[1] >>> 0;
  let c = seed[2] >>> 0;
  let d = seed[3] >>> 0;
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is a fixed point
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** A generator seeded from the operating system's CSPRNG: a fresh, unguessable draw per request. */
export function secretRng(): Rng {
  return seededRng(getRandomValues(new Uint32Array(4)));
}
