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

export function client(server: string, token: string): Client {
  return {
    async stream(path: string, out: (chunk: string) => void): Promise<void> {
      let res: Response;
      try {
        res = await fetch(`${server.replace(/\/$/, '')}${path}`, { headers: { authorization: `Bearer ${token}` } });
      } catch (e) {
        throw new Unreachable(
          `cannot reach the control plane at ${server}: ${String((e as { cause?: unknown }).cause ?? e)}`,
        );
      }
      if (!res.ok) {
        const text = await res.text();
        let status: Status | undefined;
        try {
          status = JSON.parse(text) as Status;
        } catch {
          status = undefined;
        }
        throw new ApiError(
          status?.kind === 'Status'
            ? status
            : ({
                apiVersion: 'v1',
                kind: 'Status',
                metadata: {},
                status: 'Failure',
                reason: 'Unknown',
                code: res.status,
                message: text,
              } as Status),
        );
      }
      const decoder = new TextDecoder();
      for await (const chunk of res.body ?? []) out(decoder.decode(chunk as Uint8Array, { stream: true }));
    },
    async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${server.replace(/\/$/, '')}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': contentType } : {}),
          },
          ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        });
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        throw new Unreachable(
          `cannot reach the control plane at ${server}: ${cause?.code ?? cause?.message ?? String(e)}`,
        );
      }
      const text = await res.text();
      let value: unknown;
      try {
        value = text ? JSON.parse(text) : undefined;
      } catch {
        value = undefined;
      }
      if (!res.ok) {
        const status =
          (value as Status | undefined)?.kind === 'Status'
            ? (value as Status)
            : ({
                apiVersion: 'v1',
                kind: 'Status',
                metadata: {},
                status: 'Failure',
                reason: 'Unknown',
                code: res.status,
                message: `HTTP ${res.status}: ${text.slice(0, 200)}`,
              } as Status);
        throw new ApiError(status);
      }
      return value as T;
    },
  };
}
