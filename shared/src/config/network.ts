// Knative's `config-network` settings Skiff reads (`pkg/network` in knative/networking): what plain
// HTTP does for a host, platform-wide, which a Service's annotation may override. One place for the
// names, the values and the default.

/** Knative's `networking.knative.dev/http-protocol` annotation on a Service. */
export const httpProtocolAnnotation = 'networking.knative.dev/http-protocol';

/**
 * What plain HTTP does for a host: served (`enabled`, Knative's default), answered with a redirect
 * to HTTPS (`redirected`), or refused (`disabled`).
 */
export const httpProtocols = ['enabled', 'redirected', 'disabled'] as const;
export type HttpProtocol = (typeof httpProtocols)[number];

export const httpProtocolDefault: HttpProtocol = 'enabled';

export function isHttpProtocol(value: unknown): value is HttpProtocol {
  return typeof value === 'string' && (httpProtocols as readonly string[]).includes(value);
}

/**
 * The platform-wide `http-protocol` from a setting (`where` names it: a flag, a variable, a
 * ConfigMap key): its value, the default when unset or empty, or a message saying what is allowed.
 */
export function parseHttpProtocol(
  value: string | undefined,
  where: string,
): { ok: true; value: HttpProtocol } | { ok: false; message: string } {
  if (value === undefined || value === '') return { ok: true, value: httpProtocolDefault };
  if (isHttpProtocol(value)) return { ok: true, value };
  return {
    ok: false,
    message: `${where} must be one of ${httpProtocols.map((p) => JSON.stringify(p)).join(', ')}, got ${JSON.stringify(value)}`,
  };
}

/**
 * What plain HTTP does for a Service's hosts: its annotation when set (admission checked it), else
 * the platform's setting.
 */
export function effectiveHttpProtocol(
  annotations: Record<string, string> | undefined,
  platform: HttpProtocol = httpProtocolDefault,
): HttpProtocol {
  const own = annotations?.[httpProtocolAnnotation];
  return isHttpProtocol(own) ? own : platform;
}
