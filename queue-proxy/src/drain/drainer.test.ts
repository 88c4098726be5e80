import { describe, expect, it } from 'vitest';
import { Drainer } from './drainer.ts';

describe('drainer', () => {
  it('is done once quiet for the period with nothing in flight', async () => {
    let inFlight = 1;
    const d = new Drainer(100, () => inFlight);
    const started = Date.now();
    let done = false;
    void d.drain().then(() => (done = true));
    expect(d.draining).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false); // quiet, but a request is still in flight
    inFlight = 0;
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('restarts the quiet period on every request that arrives', async () => {
    const d = new Drainer(150, () => 0);
    const started = Date.now();
    const drained = d.drain();
    const arrivals = setInterval(() => d.touch(Date.now()), 50);
    setTimeout(() => clearInterval(arrivals), 400);
    await drained;
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('returns the same promise when asked again', () => {
    const d = new Drainer(10, () => 0);
    expect(d.drain()).toBe(d.drain());
  });
});
