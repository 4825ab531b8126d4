// Seeded pseudo-random numbers for training. Math.random cannot be seeded, and the
// demo models must rebuild byte-identically, so every random choice goes through here.

/** A source of uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a 32-bit state generator. Small, fast, and good enough for shuffling
 * and weight initialisation; only integer ops, so it is identical on every platform.
 */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}
