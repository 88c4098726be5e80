import { Agent, fetch as undiciFetch } from 'undici';

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * `fetch` that trusts `ca` (PEM) for HTTPS; plain global `fetch` without one. Node's own fetch takes
 * no CA, hence undici's, with its own connection pool (keep-alive, as kubectl's transport).
 */
export function fetchTrusting(ca: string | undefined, options: { insecure?: boolean } = {}): Fetch {
  if (!ca && !options.insecure) return (input, init) => fetch(input, init);
  const dispatcher = new Agent({
    connect: { ...(ca ? { ca } : {}), ...(options.insecure ? { rejectUnauthorized: false } : {}) },
  });
  type Init = NonNullable<Parameters<typeof undiciFetch>[1]>;
  return (input, init) => {
    // A Request of Node's own fetch is not one of undici's: pass its parts.
    const fromRequest: RequestInit & { duplex?: 'half' } =
      input instanceof Request
        ? { method: input.method, headers: input.headers, body: input.body, signal: input.signal, duplex: 'half' }
        : {};
    const url = input instanceof Request ? input.url : input;
    return undiciFetch(url, { ...fromRequest, ...init, dispatcher } as Init) as unknown as Promise<Response>;
  };
}
