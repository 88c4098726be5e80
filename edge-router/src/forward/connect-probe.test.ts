import { describe, expect, it } from 'vitest';
import { RememberingProbe } from './connect-probe.ts';

describe('RememberingProbe', () => {
  it('asks an endpoint until a request to it was answered, and again after one failed', async () => {
    const asked: string[] = [];
    const probe = new RememberingProbe(async (url) => {
      asked.push(url);
      return true;
    });
    const signal = new AbortController().signal;
    const a = 'http://10.0.0.1:8012';
    expect(await probe.accepts(a, signal)).toBe(true);
    expect(await probe.accepts(a, signal)).toBe(true);
    expect(asked).toEqual([a, a]);
    probe.outcome(a, true);
    expect(await probe.accepts(a, signal)).toBe(true);
    expect(asked).toHaveLength(2);
    probe.outcome(a, false);
    await probe.accepts(a, signal);
    expect(asked).toHaveLength(3);
  });

  it('passes on what the probe found: a refusing endpoint is refused every time', async () => {
    const probe = new RememberingProbe(async () => false);
    const signal = new AbortController().signal;
    expect(await probe.accepts('http://10.0.0.9:8012', signal)).toBe(false);
    expect(await probe.accepts('http://10.0.0.9:8012', signal)).toBe(false);
  });
});
