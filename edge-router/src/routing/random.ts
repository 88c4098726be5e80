/** A source of uniform numbers in [0, 1); injected so traffic splits and load balancing are testable. */
export type Random = () => number;

/**
 * A small seeded generator (mulberry32): the same seed gives the same sequence in every runtime,
 * so a router started with `SKIFF_RANDOM_SEED` splits traffic reproducibly.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomSource(seed: number | undefined): Random {
  return seed === undefined ? Math.random : seededRandom(seed);
}
