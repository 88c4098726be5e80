import { bearer } from '../api/auth.ts';

/** The console keeps the user's API token in this cookie (HttpOnly, SameSite=Strict, Path=/). */
export const sessionCookie = 'skiff_session';
/**
 * Writes from the console carry this header. A cross-site page can send a cookie-bearing form
 * POST, but not a custom header without a CORS preflight, which this server never approves.
 */
export const csrfHeader = 'x-skiff-console';

const unsafe = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface SessionVerdict {
  /** The token to authenticate the request with, if the cookie supplied it. */
  token?: string;
  /** Why a cookie-authenticated write is refused (cross-site or missing the console header). */
  refused?: string;
}

/**
 * Decides how a request to the API is authenticated: an `Authorization` header wins; otherwise
 * the session cookie, and then a write must come from the console itself (same origin, custom
 * header). Pure: the caller turns the verdict into headers or a 403.
 */
export function sessionVerdict(req: {
  method: string;
  url: string;
  authorization?: string | undefined;
  cookie?: string | undefined;
  origin?: string | undefined;
  host?: string | undefined;
  consoleHeader?: string | undefined;
}): SessionVerdict {
  if (bearer(req.authorization) !== undefined) return {};
  const token = readCookie(req.cookie, sessionCookie);
  if (token === undefined) return {};
  if (!unsafe.has(req.method.toUpperCase())) return { token };
  if (req.consoleHeader !== '1') return { refused: `a write from the console must send ${csrfHeader}: 1` };
  if (req.origin !== undefined && req.origin !== 'null') {
    let originHost: string;
    try {
      originHost = new URL(req.origin).host;
    } catch {
      return { refused: `Origin ${JSON.stringify(req.origin)} is not a URL` };
    }
    if (originHost !== req.host) return { refused: `a write from ${req.origin} is cross-site` };
  } else if (req.origin === 'null') {
    return { refused: 'a write from an opaque origin is cross-site' };
  }
  return { token };
}

/** One cookie's value from a `Cookie` header, percent-decoded. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

/** The `Set-Cookie` value that keeps a token for the console (`secure` when served over HTTPS). */
export function sessionSetCookie(token: string, secure: boolean): string {
  return [
    `${sessionCookie}=${encodeURIComponent(token)}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** The `Set-Cookie` value that forgets the session. */
export function sessionClearCookie(secure: boolean): string {
  return [
    `${sessionCookie}=`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    'Max-Age=0',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}
