import { describe, expect, it } from 'vitest';
import { ConfigError, parseRouterConfig } from './config.ts';

const base = { SKIFF_CONTROL_PLANE_URL: 'http://127.0.0.1:8081/', SKIFF_ROUTER_TOKEN: 't' };

describe('router configuration', () => {
  it('defaults: tag header off, revision header on, 10,000 held per revision, no body limit', () => {
    expect(parseRouterConfig(base)).toEqual({
      controlPlaneUrl: 'http://127.0.0.1:8081',
      routerToken: 't',
      routerName: 'edge-router',
      tagHeaderRouting: false,
      revisionHeader: true,
      serveClusterLocal: false,
      maxHeldPerRevision: 10_000,
      maxBodyBytes: 0,
      headerTimeoutMs: 10_000,
      snapshotWaitSeconds: 30,
      randomSeed: undefined,
      metricsPort: undefined,
    });
  });

  it('reads every setting from its variable', () => {
    expect(
      parseRouterConfig({
        ...base,
        SKIFF_TAG_HEADER_ROUTING: 'true',
        SKIFF_REVISION_HEADER: 'false',
        SKIFF_MAX_HELD_PER_REVISION: '5',
        SKIFF_MAX_BODY_BYTES: '1024',
        SKIFF_HEADER_TIMEOUT: '2s',
        SKIFF_RANDOM_SEED: '42',
        SKIFF_ROUTER_METRICS_PORT: '9090',
      }),
    ).toMatchObject({
      tagHeaderRouting: true,
      revisionHeader: false,
      maxHeldPerRevision: 5,
      maxBodyBytes: 1024,
      headerTimeoutMs: 2000,
      randomSeed: 42,
      metricsPort: 9090,
    });
  });

  it('names every bad variable in one error', () => {
    try {
      parseRouterConfig({
        SKIFF_MAX_HELD_PER_REVISION: '0',
        SKIFF_TAG_HEADER_ROUTING: 'yes',
        SKIFF_HEADER_TIMEOUT: 'soon',
        SKIFF_ROUTER_METRICS_PORT: '70000',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        'SKIFF_CONTROL_PLANE_URL is required',
        'SKIFF_ROUTER_TOKEN is required',
        'SKIFF_TAG_HEADER_ROUTING must be true or false, got "yes"',
        'SKIFF_MAX_HELD_PER_REVISION must be a whole number >= 1, got "0"',
        'SKIFF_HEADER_TIMEOUT must be a positive duration such as "10s" or "500ms", got "soon"',
        'SKIFF_ROUTER_METRICS_PORT must be a port number (0-65535), got "70000"',
      ]);
    }
  });
});
