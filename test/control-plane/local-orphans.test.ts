import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ready, startPlatform } from '../helpers/platform.ts';
import { childrenOf, start, stopAll, waitFor } from '../helpers/processes.ts';

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

  it('leave no orphans when skiff up is killed outright: control plane, router and replicas all go', async () => {
    const p = await startPlatform();
    await ready(p, 'hello');
    const supervisor = p.proc.child.pid as number;
    await waitFor(() => childrenOf(supervisor).length >= 4, 10_000, 'control plane, router, app and queue-proxy');
    const pids = childrenOf(supervisor).map((c) => c.pid);
    expect(pids.every(alive)).toBe(true);
    p.proc.kill('SIGKILL');
    await p.proc.exited;
    await waitFor(() => !pids.some(alive), 5000, 'every child of skiff up to exit');
  }, 60_000);

  it('stop everything on Ctrl-C, replicas drained first', async () => {
    const p = await startPlatform();
    await ready(p, 'hello');
    const supervisor = p.proc.child.pid as number;
    const pids = childrenOf(supervisor).map((c) => c.pid);
    p.proc.kill('SIGINT');
    expect(await p.proc.exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
  }, 60_000);
});
