import { latencyBucket } from '@skiff/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, harness, service, svcPath } from '../testing/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await harness({ readyAfterMs: 0 });
  expect((await h.api('POST', svcPath(), service('hello'))).status).toBe(201);
  await h.settle();
});
afterAll(() => h.close());

const get = (path: string, headers: Record<string, string> = {}) =>
  h.fetch(`${h.cp.url}${path}`, { headers, redirect: 'manual' });

describe('console access', () => {
  it('answers the login page at / without a session, and the app with one', async () => {
    const login = await get('/');
    expect(login.status).toBe(200);
    expect(login.headers.get('content-type')).toMatch(/text\/html/);
    expect(await login.text()).toContain('name="token"');
    const app = await get('/', { cookie: 'skiff_session=user-token' });
    expect(await app.text()).toContain('/console/assets/app.js');
  });

  it('takes a good token into an HttpOnly, SameSite=Strict, Secure cookie and refuses a bad one', async () => {
    const post = (token: string) =>
      h.fetch(`${h.cp.url}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token }),
        redirect: 'manual',
      });
    const bad = await post('nope');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const good = await post('user-token');
    expect(good.status).toBe(303);
    expect(good.headers.get('set-cookie')).toBe('skiff_session=user-token; Path=/; HttpOnly; SameSite=Strict; Secure'); // the API is HTTPS
  });

  it.each([
    svcPath(),
    svcPath('hello'),
    '/apis/serving.knative.dev/v1/revisions',
    '/apis/serving.knative.dev/v1/namespaces/default/revisions/hello-00001/scaling',
    '/metrics',
    '/console/api/events?namespace=default&revision=hello-00001',
    '/console/api/cold-starts?namespace=default&revision=hello-00001',
  ])('answers 401 to %s with a bad token, by cookie or header', async (path) => {
    expect((await get(path, { cookie: 'skiff_session=wrong' })).status).toBe(401);
    expect((await get(path, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(path)).status).toBe(401);
  });

  it('refuses a cookie write without the console header or from another site, and takes one from the console', async () => {
    const patch = (headers: Record<string, string>) =>
      h.fetch(`${h.cp.url}${svcPath('hello')}`, {
        method: 'PATCH',
        headers: { cookie: 'skiff_session=user-token', 'content-type': 'application/merge-patch+json', ...headers },
        body: JSON.stringify({ metadata: { labels: { a: 'b' } } }),
      });
    const plain = await patch({});
    expect(plain.status).toBe(403);
    expect(((await plain.json()) as { message: string }).message).toMatch(/x-skiff-console/);
    expect((await patch({ 'x-skiff-console': '1', origin: 'http://evil.example' })).status).toBe(403);
    const ok = await patch({ 'x-skiff-console': '1', origin: h.cp.url });
    expect(ok.status).toBe(200);
  });

  it('streams a revision history, then a sample each second, over server-sent events', async () => {
    h.cp.live.sample();
    const abort = new AbortController();
    const res = await h.fetch(`${h.cp.url}/console/api/events?namespace=default&revision=hello-00001`, {
      headers: { cookie: 'skiff_session=user-token' },
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const started = Date.now();
    while (!text.includes('event: sample') && Date.now() - started < 5000) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    expect(text).toMatch(/event: history\ndata: \{"key":"default\/hello-00001","samples":\[\[\d+,/);
    expect(text).toMatch(/event: sample\ndata: \{"t":\d+,"s":\{"default\/hello-00001":\[/);
  });

  it('puts every figure the charts draw on /metrics, with Knative names where Knative has one', async () => {
    // A router's report: 2 held, 5 req/s, 10 answers of which 1 was a 5xx, all within ~20 ms.
    const report = {
      router: 'r1',
      timestamp: Date.now(),
      periodMs: 1000,
      revisions: [
        {
          namespace: 'default',
          revision: 'hello-00001',
          averageHeld: 2,
          averageInFlight: 1,
          requestsPerSecond: 5,
          responses: 10,
          serverErrors: 1,
          latency: [[latencyBucket(20), 10]],
        },
      ],
    };
    const posted = await h.fetch(`${h.cp.url}/internal/v1/stats`, {
      method: 'POST',
      headers: { authorization: 'Bearer router-token', 'content-type': 'application/x-ndjson' },
      body: `${JSON.stringify(report)}\n`,
    });
    expect(posted.status).toBeLessThan(300);
    h.cp.live.sample();
    const text = await (await h.api('GET', '/metrics')).text();
    const labels = 'namespace_name="default",revision_name="hello-00001"';
    expect(text).toContain(`skiff_revision_requests_per_second{${labels}} 5`);
    expect(text).toContain(`kn_revision_request_queued{${labels}} 2`);
    expect(text).toContain(`skiff_revision_server_errors_per_second{${labels}} 1`);
    expect(text).toMatch(new RegExp(`^skiff_revision_latency_seconds\\{${labels},quantile="0.99"\\} 0\\.02`, 'm'));
    expect(text).toContain(`skiff_revision_concurrency_capacity{${labels}} 70`);
    // Replicas desired and actual are the autoscaler's gauges, under Knative's names.
    expect(text).toMatch(/^kn_revision_pods_desired\{namespace="default",service="hello",revision="hello-00001"\} 1$/m);
    expect(text).toMatch(/^kn_revision_pods_count\{[^}]*revision="hello-00001"\} 1$/m);
    // One writer: every family has its HELP and TYPE once.
    const types = text.match(/^# TYPE (\S+)/gm) ?? [];
    expect(new Set(types).size).toBe(types.length);
  });

  it('serves its assets gzipped from the control plane itself', async () => {
    const js = await get('/console/assets/app.js', { 'accept-encoding': 'gzip' });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(1000);
  }, 30_000);
});
