import { describe, expect, it } from 'vitest';
import { Breaker, type Waiter } from './breaker.ts';

const waiter = (log: string[], name: string): Waiter => ({ cancelled: false, admit: () => log.push(name) });

describe('breaker', () => {
  it('admits up to capacity, queues up to depth, then refuses', () => {
    const b = new Breaker(2, 3);
    const log: string[] = [];
    const results = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => b.enter(waiter(log, n)));
    expect(results).toEqual(['admitted', 'admitted', 'queued', 'queued', 'queued', 'full']);
    expect(b.inFlight).toBe(2);
    expect(b.waiting).toBe(3);
  });

  it('hands freed slots to waiters in arrival order', () => {
    const b = new Breaker(1, 10);
    const log: string[] = [];
    b.enter(waiter(log, 'first'));
    for (const n of ['x', 'y', 'z']) b.enter(waiter(log, n));
    b.leave();
    b.leave();
    expect(log).toEqual(['x', 'y']);
    expect(b.inFlight).toBe(1);
    expect(b.waiting).toBe(1);
  });

  it('skips waiters that gave up', () => {
    const b = new Breaker(1, 10);
    const log: string[] = [];
    b.enter(waiter(log, 'first'));
    const gone = waiter(log, 'gone');
    b.enter(gone);
    b.enter(waiter(log, 'next'));
    b.cancel(gone);
    expect(b.waiting).toBe(1);
    b.leave();
    expect(log).toEqual(['next']);
  });

  it('does not let a newcomer jump the queue when a slot frees', () => {
    const b = new Breaker(1, 10);
    const log: string[] = [];
    b.enter(waiter(log, 'a'));
    b.enter(waiter(log, 'queued'));
    b.leave();
    expect(b.enter(waiter(log, 'late'))).toBe('queued');
    expect(log).toEqual(['queued']);
  });

  it('frees its slot when the last one leaves', () => {
    const b = new Breaker(3, 30);
    for (let i = 0; i < 3; i++) b.enter(waiter([], 'x'));
    for (let i = 0; i < 3; i++) b.leave();
    expect(b.inFlight).toBe(0);
    expect(b.enter(waiter([], 'y'))).toBe('admitted');
  });
});
