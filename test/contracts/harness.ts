// What every contract suite is given: a fresh store, and a way to let time pass for it.
import { setTimeout as sleep } from 'node:timers/promises';

export interface StoreUnderTest<S> {
  store: S;
  /**
   * Lets `ms` pass for the store: moves its injected clock, or, for a store on the real clock
   * (a library's timers, a Redis server's TTLs), waits. Contracts never ask for more than 300 ms.
   */
  advance(ms: number): Promise<void>;
}

/** Builds a fresh, empty store for one test. */
export type MakeStore<S> = () => StoreUnderTest<S> | Promise<StoreUnderTest<S>>;

/** A store on the real clock: time passes by waiting. */
export function onRealClock<S>(store: S): StoreUnderTest<S> {
  return { store, advance: (ms) => sleep(ms) };
}

/** A clock that moves only when told: for stores that take a `now`. */
export function fakeClock(start = Date.now()): { now: () => number; advance: (ms: number) => Promise<void> } {
  let t = start;
  return {
    now: () => t,
    advance: async (ms) => {
      t += ms;
    },
  };
}

/** Runs `fn` `n` times at once (no awaits between the calls). */
export function together<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
}
