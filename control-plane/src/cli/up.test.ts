import { describe, expect, it } from 'vitest';
import { UsageError } from './commands.ts';
import { parseUpArgs } from './up.ts';

describe('skiff up --rollout-duration (Knative’s config-network rollout-duration)', () => {
  it.each([
    [['--rollout-duration', '120s'], 120],
    [['--rollout-duration=2m'], 120],
    [['--rollout-duration', '90'], 90], // bare seconds, as config-network takes them
    [['--rollout-duration', '0s'], 0],
  ])('%j is %i s for every Service without the annotation', (args, seconds) => {
    expect(parseUpArgs(args).rolloutDurationSeconds).toBe(seconds);
  });

  it('is off (at once) unless given', () => {
    expect(parseUpArgs([]).rolloutDurationSeconds).toBeUndefined();
  });

  it.each([['1.5s'], ['-1s'], ['soon'], ['500ms']])('refuses %s: whole seconds only', (text) => {
    expect(() => parseUpArgs(['--rollout-duration', text])).toThrow(UsageError);
    expect(() => parseUpArgs(['--rollout-duration', text])).toThrow(/whole number of seconds such as 120s/);
  });
});
