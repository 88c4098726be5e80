import type { Fetch } from '@skiff/http/tls';
import type { Status } from '@skiff/shared';

/** The API refused a request: its Status, for the CLI to print. */
export class ApiError extends Error {
  readonly status: Status;
  constructor(status: Status) {
    super(status.message);
    this.status = status;
  }
}

/** The control plane could not be reached at all. */
export class Unreachable extends Error {}

export interface Client {
  request<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  /** A GET whose body is copied to `out` as it arrives (logs). */
  stream(path: string, out: (chunk: string) => void): Promise<void>;
}

export function client(server: string, token: string, fetchFn: Fetch = (input, init) => fetch(input, init)): Client {
  const base = server.replace(/\/$/, '');
  /** One call; a failure to connect is `Unreachable`, an error answer an `ApiError`. */
  const call = async (path: string, init: RequestInit): Promise<Response> => {
    let res: Response;
    try {
      res = await fetchFn(`${base}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          // The field manager of the CLI's writes (kube-apiserver names it from the User-Agent).
          'user-agent': 'skiff',
          ...(init.headers as Record<string, string>),
        },
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Unreachable(
        `cannot reach the control plane at ${server}: ${cause?.code ?? cause?.message ?? String(e)}`,
      );
    }
    if (!res.ok) throw new ApiError(statusOf(res.status, await res.text()));
    return res;
  };
  return {
    async stream(path: string, out: (chunk: string) => void): Promise<void> {
      const res = await call(path, {});
      const decoder = new TextDecoder();
      for await (const chunk of res.body ?? []) out(decoder.decode(chunk as Uint8Array, { stream: true }));
    },
    async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
      const res = await call(path, {
        method,
        ...(body !== undefined
          ? { headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) }
          : {}),
      });
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    },
  };
}

/** The `Status` of an error answer, or one made from whatever else came back. */
function statusOf(code: number, text: string): Status {
  try {
    const value = JSON.parse(text) as Status;
    if (value?.kind === 'Status') return value;
  } catch {
    // Not JSON: described below.
  }
  return {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    reason: 'Unknown',
    code,
    message: `HTTP ${code}: ${text.slice(0, 200)}`,
  };
}
