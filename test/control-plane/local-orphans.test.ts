import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { start, stopAll, waitFor } from '../helpers/processes.ts';

afterAll(stopAll);

const host = fileURLToPath(new URL('../helpers/local-backend-host.ts', import.meta.url));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('local backend processes', () => {
  it('leave no orphans when the platform is killed outright', async () => {
    const proc = await start(process.execPath, ['--import', 'tsx', host], {}, /"pids"/, 30_000);
    const { pids } = JSON.parse(proc.output().trim().split('\n').at(-1) as string) as { pids: number[] };
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    proc.kill('SIGKILL');
    await proc.exited;
    await waitFor(() => !pids.some(alive), 5000, 'the app and queue-proxy to exit');
  });
});
