import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Runs `step` on each item of `items`, about `sliceMs` of them per turn of the event loop, so a
 * pass over 10,000 revisions (the console's per-second sample, the autoscaler's tick) never holds
 * the loop for long: whole, each held it for 30–170 ms at 10,000 revisions, and a change to a
 * service waiting behind it was the change → router p99 (`bench/scale.mjs`). A request takes
 * several turns (read, handler, fsync, write), so a slice stays well below what it would add.
 * Stops between slices once `stopped()`; says whether it went through every item.
 */
export async function eachInSlices<T>(
  items: Iterable<T>,
  step: (item: T) => void,
  stopped: () => boolean,
  sliceMs = 2,
): Promise<boolean> {
  const it = items[Symbol.iterator]();
  for (let next = it.next(); !next.done; ) {
    const until = performance.now() + sliceMs;
    do {
      step(next.value);
      next = it.next();
    } while (!next.done && performance.now() < until);
    if (next.done) break;
    await nextTurn();
    if (stopped()) return false;
  }
  return true;
}

/**
 * A timer that runs `pass` every `periodMs`, skipping a period while the last pass (sliced over
 * the event loop) still runs: on a loaded machine it is late, and the next one catches up.
 */
export function slicedTimer(periodMs: number, pass: () => Promise<unknown>): ReturnType<typeof setInterval> {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void pass().finally(() => {
      running = false;
    });
  }, periodMs);
  timer.unref();
  return timer;
}
