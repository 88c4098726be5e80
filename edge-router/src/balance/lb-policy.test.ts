import { describe, expect, it } from 'vitest';
import { seededRandom } from '../routing/random.ts';
import { type EndpointState, pickEndpoint } from './lb-policy.ts';

const endpoints = (...inFlight: number[]): EndpointState[] =>
  inFlight.map((n, i) => ({ pod: `pod-${i}`, url: `http://10.0.0.${i}:8012`, inFlight: n }));
const draws = (...xs: number[]) => {
  let i = 0;
  return () => xs[i++ % xs.length] as number;
};

describe('load balancing by in-flight count', () => {
  it('containerConcurrency 0: takes the less busy of two random endpoints', () => {
    const list = endpoints(5, 0, 3);
    // Draws pick index 0 then index 1 of the remaining two (= endpoint 2).
    expect(pickEndpoint(list, 0, draws(0, 0.6), { next: 0 })?.pod).toBe('pod-2');
    expect(pickEndpoint(list, 0, draws(0, 0.1), { next: 0 })?.pod).toBe('pod-1');
  });

  it('containerConcurrency 0: spreads load evenly over many picks', () => {
    const list = endpoints(0, 0, 0, 0);
    const random = seededRandom(1);
    for (let i = 0; i < 400; i++) {
      const e = pickEndpoint(list, 0, random, { next: 0 });
      if (e) e.inFlight++;
    }
    const counts = list.map((e) => e.inFlight);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
  });

  it('containerConcurrency 1–3: the first endpoint with a free slot', () => {
    expect(pickEndpoint(endpoints(1, 0, 0), 1, Math.random, { next: 0 })?.pod).toBe('pod-1');
    expect(pickEndpoint(endpoints(2, 3, 1), 3, Math.random, { next: 0 })?.pod).toBe('pod-0');
    expect(pickEndpoint(endpoints(1, 1), 1, Math.random, { next: 0 })).toBeUndefined();
  });

  it('containerConcurrency above 3: round robin over endpoints with a free slot', () => {
    const list = endpoints(0, 10, 0);
    const cursor = { next: 0 };
    const picked = Array.from({ length: 4 }, () => pickEndpoint(list, 10, Math.random, cursor)?.pod);
    expect(picked).toEqual(['pod-0', 'pod-2', 'pod-0', 'pod-2']);
  });

  it('leaves out the endpoint that just refused a connection', () => {
    const list = endpoints(0, 0);
    expect(pickEndpoint(list, 1, Math.random, { next: 0 }, list[0])?.pod).toBe('pod-1');
    expect(pickEndpoint(list.slice(0, 1), 0, Math.random, { next: 0 }, list[0])).toBeUndefined();
  });

  it('has nothing to offer without endpoints', () => {
    expect(pickEndpoint([], 0, Math.random, { next: 0 })).toBeUndefined();
  });
});
