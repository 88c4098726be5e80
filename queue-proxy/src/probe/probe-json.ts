import type { Probe } from '@skiff/shared';

/**
 * Reads `SERVING_READINESS_PROBE` (a probe the control plane already checked against `ProbeSchema`)
 * without zod: zod was 734 KB of the queue-proxy's 829 KB bundle and some 6 MiB of its memory
 * (zod's classic API does not tree-shake), for one object read once at start. The same fields and
 * types as `ProbeSchema` in `shared/src/schemas/container.ts`, unknown fields refused as there.
 */
type Check = (value: unknown, at: string) => string | undefined;

const str: Check = (v, at) => (typeof v === 'string' ? undefined : `${at}: must be a string`);
const int: Check = (v, at) => (Number.isInteger(v) ? undefined : `${at}: must be a whole number`);
const intOrString: Check = (v, at) =>
  Number.isInteger(v) || typeof v === 'string' ? undefined : `${at}: must be a port number or name`;
const oneOf =
  (...allowed: string[]): Check =>
  (v, at) =>
    allowed.includes(v as string) ? undefined : `${at}: must be one of ${allowed.join(', ')}`;
const list =
  (item: Check): Check =>
  (v, at) => {
    if (!Array.isArray(v)) return `${at}: must be a list`;
    for (let i = 0; i < v.length; i++) {
      const error = item(v[i], `${at}[${i}]`);
      if (error) return error;
    }
    return undefined;
  };
const object =
  (fields: Record<string, Check>, required: string[] = []): Check =>
  (v, at) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${at || 'probe'}: must be an object`;
    const o = v as Record<string, unknown>;
    const name = (key: string) => (at ? `${at}.${key}` : key);
    for (const key of required) if (o[key] === undefined) return `${name(key)}: required`;
    for (const [key, value] of Object.entries(o)) {
      const check = fields[key];
      if (check === undefined) return `${name(key)}: unknown field`;
      if (value === undefined) continue;
      const error = check(value, name(key));
      if (error) return error;
    }
    return undefined;
  };

const probe = object({
  httpGet: object({
    path: str,
    port: intOrString,
    host: str,
    scheme: oneOf('HTTP', 'HTTPS'),
    httpHeaders: list(object({ name: str, value: str }, ['name', 'value'])),
  }),
  tcpSocket: object({ port: intOrString, host: str }),
  exec: object({ command: list(str) }),
  grpc: object({ port: int, service: str }, ['port']),
  initialDelaySeconds: int,
  timeoutSeconds: int,
  periodSeconds: int,
  successThreshold: int,
  failureThreshold: int,
  terminationGracePeriodSeconds: int,
});

/** The probe in `json`, or what is wrong with it (`field: message`). */
export function readProbeJson(json: unknown): { probe: Probe } | { error: string } {
  const error = probe(json, '');
  return error === undefined ? { probe: json as Probe } : { error };
}
