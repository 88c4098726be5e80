/**
 * The answers the router gives itself, in one place so every runtime says the same thing. Bodies
 * are one line of plain text naming what happened and, where it helps, which revision.
 */
export const answers = {
  queueFull: (revision: string) => ({
    status: 503,
    message: `pending request queue full for revision ${revision}`,
  }),
  timeout: (revision: string) => ({ status: 504, message: `request timeout waiting for revision ${revision}` }),
  upstreamFailed: (revision: string, reason: string) => ({
    status: 502,
    message: `error reverse proxying to revision ${revision}: ${reason}`,
  }),
  headersTooLarge: { status: 431, message: 'request header fields too large' },
  bodyTooLarge: (limit: number) => ({ status: 413, message: `request body larger than ${limit} bytes` }),
  headerTimeout: { status: 408, message: 'request header timeout' },
} as const;

export function plainText(status: number, message: string): Response {
  return new Response(`${message}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}
