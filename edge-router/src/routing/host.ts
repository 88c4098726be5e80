/**
 * The host a request is for, as the routing table keys it: lower case, without port or trailing
 * dot (`Hello.Default.Example.COM:8080` → `hello.default.example.com`). `undefined` when the
 * header is missing or empty.
 */
export function normalizeHost(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  let end = header.length;
  if (header.charCodeAt(0) === 91 /* [ */) {
    // An IPv6 literal: the port, if any, follows the closing bracket.
    const close = header.indexOf(']');
    end = close < 0 ? end : close + 1;
  } else {
    const colon = header.indexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && header.charCodeAt(end - 1) === 46 /* . */) end--;
  if (end === 0) return undefined;
  const host = end === header.length ? header : header.slice(0, end);
  return hasUpper(host) ? host.toLowerCase() : host;
}

// Most hosts arrive in lower case already; checking is cheaper than copying.
function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}
