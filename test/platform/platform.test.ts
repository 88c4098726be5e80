import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skiff } from '../helpers/control-plane.ts';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { stopAll, waitFor } from '../helpers/processes.ts';

const skiffBin = fileURLToPath(new URL('../../control-plane/bin/skiff.js', import.meta.url));

let p: Platform;
// Starting skiff up took over 60 s in one of five runs at a load average of 20 on the shared
// 2 cores (the hook timed out, every test skipped): the start is given two minutes.
beforeAll(async () => {
  p = await startPlatform();
}, 120_000);
afterAll(stopAll);

const host = (name: string) => `${name}.default.localhost`;

async function deploy(
  name: string,
  spec: Record<string, unknown> = {},
  env: Record<string, string> = {},
  annotations?: Record<string, string>,
) {
  const r = await p.api('POST', servicePath(name), undefined);
  await r.arrayBuffer();
  const created = await p.api('POST', servicePath(), appService(name, spec, env, annotations));
  expect(created.status).toBe(201);
  return ready(p, name);
}

async function update(name: string, change: (svc: any) => void) {
  const svc = (await (await p.api('GET', servicePath(name))).json()) as any;
  delete svc.status;
  change(svc);
  const r = await p.api('PUT', servicePath(name), svc);
  expect(r.status).toBe(200);
  return ready(p, name);
}

describe('the platform on one machine (skiff up)', () => {
  it('serves the example service it deployed on a fresh data dir', async () => {
    await ready(p, 'hello');
    const r = await p.get(host('hello'));
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('Hello World!\n');
  });

  it('answers at a new service’s URL once it is created', async () => {
    const svc = await deploy('web', {}, { TARGET: 'Web' });
    expect(svc.status.url).toBe(`http://web.default.localhost:${p.routerPort}`);
    const r = await p.get(host('web'));
    expect(await r.text()).toBe('Hello Web!\n');
    expect(r.headers.get('skiff-revision')).toBe('web-00001');
  });

  it('shows a revision’s output with skiff logs', async () => {
    const r = await skiff(['logs', 'web'], { url: p.apiUrl, token: p.token, dataDir: p.dataDir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/web-00001-\d+: app listening on \d+/);
    const missing = await skiff(['logs', 'nope'], { url: p.apiUrl, token: p.token, dataDir: p.dataDir });
    expect(missing.code).toBe(1);
  });

  it('follows a revision’s output as it is written with skiff logs --follow', async () => {
    const echo =
      'process.stdout.write("starting\\n"); setInterval(() => console.log("tick " + Date.now()), 200); require("node:http").createServer((q, s) => s.end("ok")).listen(process.env.PORT);';
    const svc = {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'chatty' },
      spec: { template: { spec: { containers: [{ command: [process.execPath, '-e', echo] }] } } },
    };
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    await ready(p, 'chatty');
    const child = spawn(process.execPath, [skiffBin, 'logs', 'chatty', '--follow'], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: join(p.dataDir, 'kubeconfig') },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      // The CLI runs from TypeScript through tsx: on a loaded machine its start alone took over
      // 5 s (the flake), so the past lines are awaited for as long as a start may take.
      await waitFor(() => out.includes('starting'), 60_000, 'the past lines');
      const ticks = () => (out.match(/tick (\d+)/g) ?? []).map((t) => Number(t.slice(5)));
      const shown = Date.now();
      const before = ticks().length;
      // Lines the app prints from now on reach the follower, in order, while it keeps running.
      await waitFor(() => ticks().filter((t) => t > shown).length >= 3, 30_000, 'new lines while following');
      const all = ticks();
      expect(all.length).toBeGreaterThanOrEqual(before + 3);
      expect(all).toEqual([...all].sort((a, b) => a - b));
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill();
    }
  });

  it('moves traffic to a new revision once it is Ready, and rolls back', async () => {
    await update('web', (s) => {
      s.spec.template.spec.containers[0].env = [{ name: 'TARGET', value: 'Web v2' }];
    });
    const r = await p.get(host('web'));
    expect(await r.text()).toBe('Hello Web v2!\n');
    expect(r.headers.get('skiff-revision')).toBe('web-00002');
    const back = await p.api('POST', `${servicePath('web')}/rollback`, {});
    expect(back.status).toBe(200);
    await ready(p, 'web');
    await waitForBody('web', 'Hello Web!\n');
  });

  it('splits 50/50 between two revisions, and each tag URL serves only its revision', async () => {
    await update('web', (s) => {
      s.spec.traffic = [
        { revisionName: 'web-00001', percent: 50, tag: 'blue' },
        { revisionName: 'web-00002', percent: 50, tag: 'green' },
      ];
    });
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const r = await p.get(host('web'));
      await r.arrayBuffer();
      const rev = r.headers.get('skiff-revision') ?? '';
      seen.set(rev, (seen.get(rev) ?? 0) + 1);
    }
    expect(seen.get('web-00001')).toBeGreaterThanOrEqual(50);
    expect(seen.get('web-00002')).toBeGreaterThanOrEqual(50);
    for (const [tag, rev] of [
      ['blue', 'web-00001'],
      ['green', 'web-00002'],
    ]) {
      for (let i = 0; i < 20; i++) {
        const r = await p.get(host(`${tag}-web`));
        await r.arrayBuffer();
        expect(r.headers.get('skiff-revision')).toBe(rev);
      }
    }
  });

  it('with containerConcurrency 1, five clients for ten seconds never overlap at the app and all get 200', async () => {
    await deploy('single', { containerConcurrency: 1 });
    const statuses: number[] = [];
    const until = Date.now() + 10_000;
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        while (Date.now() < until) {
          const r = await p.get(host('single'), '/exclusive?ms=20');
          await r.arrayBuffer();
          statuses.push(r.status);
        }
      }),
    );
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('answers 504 when the app takes longer than timeoutSeconds', async () => {
    await deploy('slow', { timeoutSeconds: 2 });
    const started = Date.now();
    const r = await p.get(host('slow'), '/sleep?ms=4000');
    expect(r.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(3500);
  });

  it('holds the first request for a revision created at zero, wakes it, and answers', async () => {
    const svc = await deploy('sleepy', {}, { TARGET: 'Sleepy' }, { 'autoscaling.knative.dev/initial-scale': '0' });
    expect(svc.status.revisions).toEqual([{ revisionName: 'sleepy-00001', actualReplicas: 0, desiredReplicas: 0 }]);
    const started = Date.now();
    const r = await p.get(host('sleepy'));
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('Hello Sleepy!\n');
    expect(Date.now() - started).toBeLessThan(5000);
    const after = (await (await p.api('GET', servicePath('sleepy'))).json()) as any;
    expect(after.status.revisions[0].desiredReplicas).toBe(1);
  });

  it('explains a cold start: Server-Timing phases on the held request, a histogram per phase on /metrics, the console view', async () => {
    // The app takes 400 ms to listen: the "listening" phase must show it.
    const svc = appService('drowsy', {}, { READY_DELAY_MS: '400' }, { 'autoscaling.knative.dev/initial-scale': '0' });
    expect((await p.api('POST', servicePath(), svc)).status).toBe(201);
    await ready(p, 'drowsy', 30_000, false);
    // The first request the router routes (404 until it has the route) is the one held.
    let r = await p.get(host('drowsy'));
    for (const until = Date.now() + 5000; r.status === 404 && Date.now() < until; ) r = await p.get(host('drowsy'));
    expect(r.status).toBe(200);
    const timing = r.headers.get('server-timing') ?? '';
    const phases = Object.fromEntries(
      timing.split(',').map((part) => {
        const [name = '', dur = ''] = part.trim().split(';dur=');
        return [name, Number(dur)];
      }),
    );
    expect(Object.keys(phases)).toEqual(['held', 'decision', 'spawn', 'listening', 'ready', 'routed', 'first-byte']);
    expect(phases.listening).toBeGreaterThanOrEqual(380);
    const steps = ['decision', 'spawn', 'listening', 'ready', 'routed'].reduce((a, k) => a + (phases[k] ?? 0), 0);
    expect(Math.abs(steps - (phases.held ?? 0))).toBeLessThan(1);
    expect(phases.held).toBeLessThan(5000);
    // A request to a running replica waited for nothing.
    expect((await p.get(host('drowsy'))).headers.get('server-timing')).toBeNull();

    const labels = 'namespace_name="default",revision_name="drowsy-00001"';
    const metrics = async () => (await p.api('GET', '/metrics')).text();
    await waitFor(
      async () => (await metrics()).includes(`skiff_cold_start_phase_seconds_count{${labels},phase="listening"} 1`),
      10_000,
      'the cold start on /metrics',
    );
    expect(await metrics()).toMatch(
      new RegExp(`skiff_cold_start_phase_seconds_bucket\\{${labels},phase="listening",le="0.25"\\} 0`),
    );
    const view = (await (
      await p.api('GET', '/console/api/cold-starts?namespace=default&revision=drowsy-00001')
    ).json()) as {
      coldStarts: { phases: Record<string, number> }[];
    };
    expect(view.coldStarts).toHaveLength(1);
    expect(view.coldStarts[0]?.phases.listening).toBe(phases.listening);
  });

  it('reports a crashing command’s exit code in the revision status', async () => {
    const crash = {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'crashy' },
      spec: {
        template: {
          spec: {
            containers: [{ command: [process.execPath, '-e', 'console.error("fatal: no config"); process.exit(4)'] }],
          },
        },
      },
    };
    expect((await p.api('POST', servicePath(), crash)).status).toBe(201);
    const deadline = Date.now() + 30_000;
    let rev: any;
    while (Date.now() < deadline) {
      rev = await (await p.api('GET', '/apis/serving.knative.dev/v1/namespaces/default/revisions/crashy-00001')).json();
      if (rev.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'False') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const readyCond = rev.status.conditions.find((c: any) => c.type === 'Ready');
    expect(readyCond).toMatchObject({ status: 'False', reason: 'ExitCode4' });
    expect(readyCond.message).toContain('fatal: no config');
  });

  it('fails no request at 200 requests/s for 20 s while the service is updated twice', async () => {
    await deploy('rolling', {}, { TARGET: 'r1' });
    // 4,000 requests on a fixed schedule (one every 5 ms), the updates after the 800th and the
    // 1,600th. A request the test process could not send on time (a loaded machine delays its
    // timers: one run sent 900 in 20 s) is sent as soon as it can be, at most 64 at once, so the
    // count and the updates' place in it never depend on the machine; only the pace does.
    const total = 4000;
    const perMs = 0.2;
    const failures: string[] = [];
    let sent = 0;
    let open = 0;
    const started = Date.now();
    const inFlight: Promise<void>[] = [];
    const sendDue = () => {
      const due = Math.min(total, Math.floor((Date.now() - started) * perMs) + 1);
      while (sent < due && open < 64) {
        sent++;
        open++;
        inFlight.push(
          p
            .get(host('rolling'))
            .then(async (r) => {
              const body = await r.text();
              if (r.status !== 200) failures.push(`${r.status} ${body.trim()}`);
            })
            .catch((e: unknown) => {
              failures.push(String(e));
            })
            .finally(() => open--),
        );
      }
    };
    const ticker = setInterval(sendDue, 5);
    const reach = (n: number) => waitFor(() => sent >= n, 120_000, `${n} requests sent`);
    try {
      await reach(800);
      await update('rolling', (s) => {
        s.spec.template.spec.containers[0].env = [{ name: 'TARGET', value: 'r2' }];
      });
      await reach(1600);
      await update('rolling', (s) => {
        s.spec.template.spec.containers[0].env = [{ name: 'TARGET', value: 'r3' }];
      });
      await reach(total);
    } finally {
      clearInterval(ticker);
    }
    await Promise.all(inFlight);
    const seconds = (Date.now() - started) / 1000;
    console.log(`rolling: ${sent} requests in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s)`);
    expect(sent).toBe(total);
    expect(failures).toEqual([]);
    await waitForBody('rolling', 'Hello r3!\n');
  }, 180_000);
});

async function waitForBody(name: string, body: string) {
  const deadline = Date.now() + 10_000;
  let last = '';
  while (Date.now() < deadline) {
    last = await (await p.get(host(name))).text();
    if (last === body) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} answers ${JSON.stringify(last)}, want ${JSON.stringify(body)}`);
}
