import { type Probe, parseDuration, revisionDefaults, validateReadinessProbe } from '@skiff/shared';
import { readProbeJson } from './probe/probe-json.ts';

/** The queue-proxy's settings, read from Knative's environment variable names. */
export interface QueueProxyConfig {
  servingPort: number;
  adminPort: number;
  metricsPort: number;
  /**
   * Address the three ports listen on (`QUEUE_LISTEN_ADDRESS`): every address of the pod by
   * default, as Knative's; `127.0.0.1` on one machine so nothing bypasses the router.
   */
  listenAddress: string;
  /**
   * When set (`QUEUE_ADMIN_TOKEN`), the admin port answers only `Authorization: Bearer <token>`:
   * on one machine anyone on the host could otherwise drain the replica.
   */
  adminToken: string | undefined;
  /** Where the app listens (`USER_HOST`, loopback by default). */
  userPort: number;
  userHost: string;
  /** 0 = no limit. Otherwise at most this many requests reach the app at once. */
  containerConcurrency: number;
  /** How many requests may wait for the app when it is at its limit (10 × containerConcurrency). */
  queueDepth: number;
  /** Total time a request may take, waiting included; 0 = none. */
  timeoutMs: number;
  /** Time until the app starts its response; 0 = none. */
  responseStartTimeoutMs: number;
  /** Time without a byte of response; 0 = none. */
  idleTimeoutMs: number;
  readinessProbe: Probe;
  /** Draining ends once no request arrived for this long and none is in flight. */
  drainQuietPeriodMs: number;
  /** A client must send its whole request head within this time. */
  headerTimeoutMs: number;
  namespace: string;
  service: string;
  configuration: string;
  revision: string;
  pod: string;
  /**
   * Where to push this replica's stats each second (`SKIFF_STATS_PUSH_URL`, the control plane's
   * base URL, with `SKIFF_STATS_PUSH_TOKEN` and, for a control plane with its own CA,
   * `SKIFF_STATS_PUSH_CA`, a PEM file); none when unset (the autoscaler scrapes `/stats`).
   */
  statsPush: { url: string; token: string; caFile: string | undefined } | undefined;
}

export type ConfigResult = { ok: true; config: QueueProxyConfig } | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and checks the environment; every problem is one line naming the variable. */
export function readConfig(env: Env, hostname = 'localhost'): ConfigResult {
  const errors: string[] = [];
  const port = (name: string, fallback?: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (fallback !== undefined) return fallback;
      errors.push(`${name}: required, a port number 1-65535`);
      return 0;
    }
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > 65535) {
      errors.push(`${name}: must be a port number 1-65535, got ${JSON.stringify(raw)}`);
      return 0;
    }
    return n;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      errors.push(`${name}: must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return n;
  };
  const duration = (name: string, fallbackMs: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallbackMs;
    const ms = parseDuration(raw);
    if (ms === undefined || ms < 0) {
      errors.push(`${name}: must be a duration such as "30s" or "500ms", got ${JSON.stringify(raw)}`);
      return fallbackMs;
    }
    return ms;
  };
  const name = (key: string, required: boolean, fallback = ''): string => {
    const raw = env[key];
    if (raw === undefined || raw === '') {
      if (required) errors.push(`${key}: required, the ${key.slice('SERVING_'.length).toLowerCase()} name`);
      return fallback;
    }
    return raw;
  };

  const servingPort = port('QUEUE_SERVING_PORT', 8012);
  const adminPort = port('QUEUE_ADMIN_PORT', 8022);
  const metricsPort = port('QUEUE_METRICS_PORT', 9091);
  const userPort = port('USER_PORT');
  if (userPort !== 0 && [servingPort, adminPort, metricsPort].includes(userPort)) {
    errors.push(`USER_PORT: ${userPort} is one of the queue-proxy's own ports`);
  }
  const maxTimeoutSeconds = 3600;
  const containerConcurrency = int('CONTAINER_CONCURRENCY', 0, 0, revisionDefaults.containerConcurrencyMaxLimit);
  const timeoutSeconds = int('REVISION_TIMEOUT_SECONDS', revisionDefaults.timeoutSeconds, 0, maxTimeoutSeconds);
  const responseStart = int('REVISION_RESPONSE_START_TIMEOUT_SECONDS', 0, 0, maxTimeoutSeconds);
  const idle = int('REVISION_IDLE_TIMEOUT_SECONDS', 0, 0, maxTimeoutSeconds);

  let readinessProbe: Probe = { tcpSocket: {}, successThreshold: 1 };
  const rawProbe = env.SERVING_READINESS_PROBE;
  if (rawProbe !== undefined && rawProbe !== '') {
    let json: unknown;
    try {
      json = JSON.parse(rawProbe);
    } catch {
      errors.push('SERVING_READINESS_PROBE: must be a JSON readiness probe, e.g. {"httpGet":{"path":"/ready"}}');
    }
    if (json !== undefined) {
      const parsed = readProbeJson(json);
      if ('error' in parsed) errors.push(`SERVING_READINESS_PROBE: ${parsed.error}`);
      else {
        const problems = validateReadinessProbe(parsed.probe, '');
        const first = problems[0];
        if (first) errors.push(`SERVING_READINESS_PROBE: ${first.field || 'probe'}: ${first.message}`);
        else readinessProbe = parsed.probe;
      }
    }
  }

  let statsPush: QueueProxyConfig['statsPush'];
  const pushUrl = env.SKIFF_STATS_PUSH_URL;
  if (pushUrl) {
    let ok = false;
    if (pushUrl.startsWith('unix:/')) ok = true;
    else {
      try {
        ok = ['http:', 'https:'].includes(new URL(pushUrl).protocol);
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      errors.push(
        `SKIFF_STATS_PUSH_URL: must be an http or https URL or unix:<absolute socket path>, got ${JSON.stringify(pushUrl)}`,
      );
    }
    const token = env.SKIFF_STATS_PUSH_TOKEN;
    if (!token) errors.push('SKIFF_STATS_PUSH_TOKEN: required with SKIFF_STATS_PUSH_URL, the router token');
    statsPush = { url: pushUrl, token: token ?? '', caFile: env.SKIFF_STATS_PUSH_CA || undefined };
  }

  const config: QueueProxyConfig = {
    servingPort,
    adminPort,
    metricsPort,
    listenAddress: env.QUEUE_LISTEN_ADDRESS || '0.0.0.0',
    adminToken: env.QUEUE_ADMIN_TOKEN || undefined,
    userPort,
    userHost: env.USER_HOST || '127.0.0.1',
    containerConcurrency,
    queueDepth: 10 * containerConcurrency,
    timeoutMs: timeoutSeconds * 1000,
    responseStartTimeoutMs: responseStart * 1000,
    idleTimeoutMs: idle * 1000,
    readinessProbe,
    drainQuietPeriodMs: duration('QUEUE_DRAIN_QUIET_PERIOD', 30_000),
    headerTimeoutMs: duration('QUEUE_HEADER_TIMEOUT', 10_000),
    namespace: name('SERVING_NAMESPACE', true),
    service: name('SERVING_SERVICE', false),
    configuration: name('SERVING_CONFIGURATION', false),
    revision: name('SERVING_REVISION', true),
    pod: name('SERVING_POD', false, hostname),
    statsPush,
  };
  const ports = [servingPort, adminPort, metricsPort];
  if (new Set(ports).size !== ports.length) {
    errors.push('QUEUE_SERVING_PORT, QUEUE_ADMIN_PORT, QUEUE_METRICS_PORT: must be three different ports');
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}
