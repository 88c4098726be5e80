import { afterAll, describe, expect, it } from 'vitest';
import { appService, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { stopAll } from '../helpers/processes.ts';

afterAll(stopAll);

describe('restarting the platform', () => {
  it('brings every service back as it was, answering at the same URL', async () => {
    const first = await startPlatform();
    expect((await first.api('POST', servicePath(), appService('keep', {}, { TARGET: 'Kept' }))).status).toBe(201);
    await ready(first, 'keep');
    expect(await (await first.get('keep.default.localhost')).text()).toBe('Hello Kept!\n');
    first.proc.kill('SIGINT');
    expect(await first.proc.exited).toBe(0);

    const second = await startPlatform(first.dataDir);
    await ready(second, 'keep');
    expect(await (await second.get('keep.default.localhost')).text()).toBe('Hello Kept!\n');
    expect(await (await second.get('hello.default.localhost')).text()).toBe('Hello World!\n');
    const revisions = (await (
      await second.api('GET', '/apis/serving.knative.dev/v1/namespaces/default/revisions')
    ).json()) as any;
    expect(revisions.items.map((r: any) => r.metadata.name).sort()).toEqual(['hello-00001', 'keep-00001']);
  }, 90_000);
});
