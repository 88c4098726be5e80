import { describe, expect, it } from 'vitest';
import { readConfig } from './config.ts';

const base = { USER_PORT: '8080', SERVING_NAMESPACE: 'default', SERVING_REVISION: 'hello-00001' };

describe('queue-proxy configuration', () => {
  it("uses Knative's defaults", () => {
    const r = readConfig(base, 'pod-1');
    expect(r.ok && r.config).toMatchObject({
      servingPort: 8012,
      adminPort: 8022,
      metricsPort: 9091,
      userPort: 8080,
      containerConcurrency: 0,
      queueDepth: 0,
      timeoutMs: 300_000,
      responseStartTimeoutMs: 0,
      idleTimeoutMs: 0,
      drainQuietPeriodMs: 30_000,
      readinessProbe: { tcpSocket: {}, successThreshold: 1 },
      pod: 'pod-1',
    });
  });

  it('listens on every address with an open admin port unless told a loopback address and a token', () => {
    const pod = readConfig(base);
    expect(pod.ok && [pod.config.listenAddress, pod.config.adminToken, pod.config.userHost]).toEqual([
      '0.0.0.0',
      undefined,
      '127.0.0.1',
    ]);
    const local = readConfig({
      ...base,
      QUEUE_LISTEN_ADDRESS: '127.0.0.1',
      QUEUE_ADMIN_TOKEN: 't',
      USER_HOST: '127.0.0.3',
    });
    expect(local.ok && [local.config.listenAddress, local.config.adminToken, local.config.userHost]).toEqual([
      '127.0.0.1',
      't',
      '127.0.0.3',
    ]);
  });

  it('pushes stats only when told where, with the token and CA file given', () => {
    const none = readConfig(base);
    expect(none.ok && none.config.statsPush).toBeUndefined();
    const push = readConfig({
      ...base,
      SKIFF_STATS_PUSH_URL: 'https://127.0.0.1:8090',
      SKIFF_STATS_PUSH_TOKEN: 'router-token',
      SKIFF_STATS_PUSH_CA: '/data/ca.crt',
    });
    expect(push.ok && push.config.statsPush).toEqual({
      url: 'https://127.0.0.1:8090',
      token: 'router-token',
      caFile: '/data/ca.crt',
    });
  });

  it('sizes the queue at ten times containerConcurrency', () => {
    const r = readConfig({ ...base, CONTAINER_CONCURRENCY: '3' });
    expect(r.ok && r.config.queueDepth).toBe(30);
  });

  it('reads a JSON readiness probe', () => {
    const r = readConfig({ ...base, SERVING_READINESS_PROBE: '{"httpGet":{"path":"/healthz"},"periodSeconds":2}' });
    expect(r.ok && r.config.readinessProbe).toEqual({ httpGet: { path: '/healthz' }, periodSeconds: 2 });
  });

  it.each([
    ['USER_PORT missing', { USER_PORT: undefined }, 'USER_PORT: required'],
    ['USER_PORT not a port', { USER_PORT: '80a' }, 'USER_PORT: must be a port number 1-65535, got "80a"'],
    ['a port out of range', { QUEUE_SERVING_PORT: '70000' }, 'QUEUE_SERVING_PORT: must be a port number'],
    [
      'containerConcurrency too high',
      { CONTAINER_CONCURRENCY: '1001' },
      'CONTAINER_CONCURRENCY: must be a whole number from 0 to 1000',
    ],
    ['a negative timeout', { REVISION_TIMEOUT_SECONDS: '-1' }, 'REVISION_TIMEOUT_SECONDS: must be a whole number'],
    [
      'a probe that is not JSON',
      { SERVING_READINESS_PROBE: '{' },
      'SERVING_READINESS_PROBE: must be a JSON readiness probe',
    ],
    [
      'a probe with two handlers',
      { SERVING_READINESS_PROBE: '{"tcpSocket":{},"httpGet":{}}' },
      'SERVING_READINESS_PROBE: ',
    ],
    [
      'a probe with a field ProbeSchema does not have',
      { SERVING_READINESS_PROBE: '{"httpGet":{"path":"/","verb":"GET"}}' },
      'SERVING_READINESS_PROBE: httpGet.verb: unknown field',
    ],
    [
      'a probe whose port is neither number nor name',
      { SERVING_READINESS_PROBE: '{"tcpSocket":{"port":true}}' },
      'SERVING_READINESS_PROBE: tcpSocket.port: must be a port number or name',
    ],
    [
      'a probe header without a value',
      { SERVING_READINESS_PROBE: '{"httpGet":{"httpHeaders":[{"name":"x"}]}}' },
      'SERVING_READINESS_PROBE: httpGet.httpHeaders[0].value: required',
    ],
    [
      'a probe period that is not whole',
      { SERVING_READINESS_PROBE: '{"tcpSocket":{},"periodSeconds":1.5}' },
      'SERVING_READINESS_PROBE: periodSeconds: must be a whole number',
    ],
    ['a probe that is a list', { SERVING_READINESS_PROBE: '[]' }, 'SERVING_READINESS_PROBE: probe: must be an object'],
    ['a bad quiet period', { QUEUE_DRAIN_QUIET_PERIOD: 'soon' }, 'QUEUE_DRAIN_QUIET_PERIOD: must be a duration'],
    ['no revision name', { SERVING_REVISION: '' }, 'SERVING_REVISION: required'],
    ['the app on the serving port', { USER_PORT: '8012' }, 'USER_PORT: 8012 is one of'],
    [
      'a stats push URL that is not http(s)',
      { SKIFF_STATS_PUSH_URL: 'ftp://x', SKIFF_STATS_PUSH_TOKEN: 't' },
      'SKIFF_STATS_PUSH_URL: must be an http or https URL or unix:<absolute socket path>, got "ftp://x"',
    ],
    [
      'a stats push URL without a token',
      { SKIFF_STATS_PUSH_URL: 'https://127.0.0.1:8090' },
      'SKIFF_STATS_PUSH_TOKEN: required with SKIFF_STATS_PUSH_URL',
    ],
  ])('refuses %s with one line naming the variable', (_name, change, message) => {
    const r = readConfig({ ...base, ...change });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain(message);
  });
});
