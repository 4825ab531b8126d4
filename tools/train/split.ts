// Deterministic shuffling and train/held-out splitting, driven by a seeded Rng.
import { randomInt, type Rng } from './prng.js';

/** Fisher-Yates shuffle, in place; returns the same array for chaining. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

export interface Split {
  /** Sample indices to train on, shuffled. */
  train: number[];
  /** Sample indices held out for evaluation, shuffled (so any prefix mixes all classes). */
  heldout: number[];
}

/**
 * Stratified split: holds out exactly `heldoutCount` samples, each class contributing in
 * proportion to its size (largest-remainder rounding), so held-out accuracy is not skewed
 * by an unlucky class mix.
 */
export function stratifiedSplit(labels: ArrayLike<number>, heldoutCount: number, rng: Rng): Split {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const members = byClass.get(labels[i]) ?? [];
    members.push(i);
    byClass.set(labels[i], members);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);

  // Integer quota per class, then hand out the remainder to the largest fractional parts
  // (ties broken by class id, so the result never depends on Map or sort stability).
  const exact = classes.map((c) => (byClass.get(c)!.length * heldoutCount) / labels.length);
  const quota = exact.map(Math.floor);
  let missing = heldoutCount - quota.reduce((a, b) => a + b, 0);
  const byRemainder = classes
    .map((_, k) => k)
    .sort((a, b) => exact[b] - quota[b] - (exact[a] - quota[a]) || a - b);
  for (const k of byRemainder) {
    if (missing-- <= 0) break;
    quota[k]++;
  }

  const train: number[] = [];
  const heldout: number[] = [];
  classes.forEach((c, k) => {
    const members = shuffleInPlace([...byClass.get(c)!], rng);
    heldout.push(...members.slice(0, quota[k]));
    train.push(...members.slice(quota[k]));
  });
  return { train: shuffleInPlace(train, rng), heldout: shuffleInPlace(heldout, rng) };
}
