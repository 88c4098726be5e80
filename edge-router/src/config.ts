import { parseDuration } from '@skiff/shared';

/**
 * Everything the router can be told, with its defaults in one place. Every runtime reads the
 * same variable names: the Node and Deno entries from the process environment, the Worker from
 * its `vars` and secrets.
 */
export interface RouterConfig {
  /** Base URL of the control plane, e.g. `http://127.0.0.1:8081`. */
  controlPlaneUrl: string;
  /** The router token (`Authorization: Bearer …` on every internal call); never the user token. */
  routerToken: string;
  /** This router's name in the stats it reports. */
  routerName: string;
  /** `Skiff-Tag: <tag>` on a route's main host picks the tag's revision (off by default, as Knative's). */
  tagHeaderRouting: boolean;
  /** Adds `Skiff-Revision: <name>` to every proxied response. */
  revisionHeader: boolean;
  /** Serve cluster-local routes too (an in-cluster router); the public router never does. */
  serveClusterLocal: boolean;
  /** Requests held per revision before new ones get 503 (Knative's activator breaker depth). */
  maxHeldPerRevision: number;
  /** Largest request body accepted (413 past it); 0 = no limit, as Knative. */
  maxBodyBytes: number;
  /** A client must send its whole request head within this time (408); Node server only. */
  headerTimeoutMs: number;
  /** How long one long-poll for a newer routing snapshot may wait at the control plane. */
  snapshotWaitSeconds: number;
  /** Seed for the traffic-split and load-balancing random source; unset = `Math.random`. */
  randomSeed: number | undefined;
  /** Node: serve Prometheus `/metrics` on this port (0 = a free one), apart from traffic; unset = none. */
  metricsPort: number | undefined;
}

/** Largest request head (request line and headers) accepted; past it, 431. */
export const maxRequestHeadBytes = 16 * 1024;

export const routerDefaults = {
  routerName: 'edge-router',
  tagHeaderRouting: false,
  revisionHeader: true,
  serveClusterLocal: false,
  maxHeldPerRevision: 10_000,
  maxBodyBytes: 0,
  headerTimeoutMs: 10_000,
  snapshotWaitSeconds: 30,
} as const;

export type ConfigEnv = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid router configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** Reads the router's settings from environment-style variables; throws one error naming every bad one. */
export function parseRouterConfig(env: ConfigEnv): RouterConfig {
  const problems: string[] = [];
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') problems.push(`${name} is required`);
    return value ?? '';
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    problems.push(`${name} must be true or false, got ${JSON.stringify(value)}`);
    return fallback;
  };
  const count = (name: string, fallback: number, min: number): number => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) {
      problems.push(`${name} must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
      return fallback;
    }
    return n;
  };
  const duration = (name: string, fallbackMs: number): number => {
    const value = env[name];
    if (value === undefined || value === '') return fallbackMs;
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) {
      problems.push(`${name} must be a positive duration such as "10s" or "500ms", got ${JSON.stringify(value)}`);
      return fallbackMs;
    }
    return ms;
  };

  const controlPlaneUrl = required('SKIFF_CONTROL_PLANE_URL').replace(/\/+$/, '');
  if (controlPlaneUrl && !/^https?:\/\//.test(controlPlaneUrl)) {
    problems.push(`SKIFF_CONTROL_PLANE_URL must be an http(s) URL, got ${JSON.stringify(controlPlaneUrl)}`);
  }
  const seed = env.SKIFF_RANDOM_SEED;
  const metricsPort = env.SKIFF_ROUTER_METRICS_PORT;
  const port = (name: string, value: string): number | undefined => {
    const n = Number(value);
    if (/^\d+$/.test(value) && n <= 65535) return n;
    problems.push(`${name} must be a port number (0-65535), got ${JSON.stringify(value)}`);
    return undefined;
  };
  const config: RouterConfig = {
    controlPlaneUrl,
    routerToken: required('SKIFF_ROUTER_TOKEN'),
    routerName: env.SKIFF_ROUTER_NAME || routerDefaults.routerName,
    tagHeaderRouting: flag('SKIFF_TAG_HEADER_ROUTING', routerDefaults.tagHeaderRouting),
    revisionHeader: flag('SKIFF_REVISION_HEADER', routerDefaults.revisionHeader),
    serveClusterLocal: flag('SKIFF_SERVE_CLUSTER_LOCAL', routerDefaults.serveClusterLocal),
    maxHeldPerRevision: count('SKIFF_MAX_HELD_PER_REVISION', routerDefaults.maxHeldPerRevision, 1),
    maxBodyBytes: count('SKIFF_MAX_BODY_BYTES', routerDefaults.maxBodyBytes, 0),
    headerTimeoutMs: duration('SKIFF_HEADER_TIMEOUT', routerDefaults.headerTimeoutMs),
    snapshotWaitSeconds: count('SKIFF_SNAPSHOT_WAIT_SECONDS', routerDefaults.snapshotWaitSeconds, 0),
    randomSeed: seed === undefined || seed === '' ? undefined : count('SKIFF_RANDOM_SEED', 0, 0),
    metricsPort:
      metricsPort === undefined || metricsPort === '' ? undefined : port('SKIFF_ROUTER_METRICS_PORT', metricsPort),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
