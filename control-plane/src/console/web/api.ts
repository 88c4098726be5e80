// The console's calls to the API: same origin, the session cookie, and the header that marks a
// write as coming from the console (the server refuses cookie writes without it).

export interface Cause {
  field?: string;
  message?: string;
  reason?: string;
}

export class ApiError extends Error {
  readonly code: number;
  readonly causes: Cause[];
  constructor(code: number, message: string, causes: Cause[]) {
    super(message);
    this.code = code;
    this.causes = causes;
  }
}

export const base = '/apis/serving.knative.dev/v1';

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const s = JSON.parse(text) as { message?: string; details?: { causes?: Cause[] } };
    return new ApiError(res.status, s.message ?? `HTTP ${res.status}`, s.details?.causes ?? []);
  } catch {
    return new ApiError(res.status, text || `HTTP ${res.status}`, []);
  }
}

/** Sends a request; a 401 means the session is gone: back to the login page. */
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = new Headers(init.headers);
  if (method !== 'GET' && method !== 'HEAD') headers.set('x-skiff-console', '1');
  const res = await fetch(path, { ...init, headers, credentials: 'same-origin' });
  if (res.status === 401) {
    location.assign('/login');
    throw await failure(res);
  }
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await call(path)).json()) as T;
}

export async function sendJson<T>(
  path: string,
  method: string,
  body: unknown,
  contentType = 'application/json',
): Promise<T> {
  const res = await call(path, {
    method,
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return (await res.json()) as T;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
export interface Target {
  revisionName?: string;
  latestRevision?: boolean;
  percent?: number;
  tag?: string;
  url?: string;
}
export interface Service {
  metadata: { name: string; namespace: string; resourceVersion?: string; generation?: number };
  spec: { template?: unknown; traffic?: Target[] };
  status?: {
    url?: string;
    conditions?: Condition[];
    latestReadyRevisionName?: string;
    latestCreatedRevisionName?: string;
    traffic?: Target[];
  };
}
export interface Revision {
  metadata: { name: string; namespace: string; creationTimestamp?: string; labels?: Record<string, string> };
  spec: { containerConcurrency?: number };
  status?: { conditions?: Condition[] };
}

export const ready = (conditions: Condition[] | undefined) => conditions?.find((c) => c.type === 'Ready');
