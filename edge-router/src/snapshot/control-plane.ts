import {
  type ActivateRequest,
  activatePath,
  type RouterStats,
  RoutingDeltaSchema,
  type RoutingSnapshot,
  RoutingSnapshotSchema,
  type RoutingUpdate,
  routingPath,
} from '@skiff/shared';
import { StatsStream } from './stats-stream.ts';

export type Fetch = (input: Request | string, init?: RequestInit) => Promise<Response>;

/** What the router asks of the control plane; a fake in unit tests, HTTP in every runtime. */
export interface ControlPlane {
  /** The snapshot newer than `since`, waiting up to `waitSeconds`; undefined when nothing changed. */
  routing(since: number | undefined, waitSeconds: number): Promise<RoutingSnapshot | undefined>;
  /**
   * Like `routing`, but the answer may be a delta from `since` (routers that keep a `RoutingState`).
   * Without it, a router always gets full snapshots.
   */
  routingUpdate?(since: number | undefined, waitSeconds: number, epoch?: string): Promise<RoutingUpdate | undefined>;
  /** A revision has held requests: scale it from zero now. */
  activate(request: ActivateRequest): Promise<void>;
  /** This second's stats, over the stats stream the queue-proxies push on too. */
  reportStats(stats: RouterStats): Promise<void>;
}

/** Extra time a long-poll may take beyond its wait before the router gives up on it. */
const longPollGraceMs = 10_000;
const callTimeoutMs = 5_000;

/** The control plane's internal endpoints over HTTP, authenticated with the router token. */
export class HttpControlPlane implements ControlPlane {
  readonly #baseUrl: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: Fetch;
  readonly #stats: StatsStream;

  constructor(baseUrl: string, routerToken: string, fetchFn: Fetch = (input, init) => fetch(input, init)) {
    this.#baseUrl = baseUrl;
    this.#headers = { authorization: `Bearer ${routerToken}` };
    this.#fetch = fetchFn;
    this.#stats = new StatsStream(baseUrl, this.#headers, fetchFn);
  }

  async routing(since: number | undefined, waitSeconds: number): Promise<RoutingSnapshot | undefined> {
    const body = await this.#routing(since, waitSeconds, false);
    if (body === undefined) return undefined;
    const snapshot = RoutingSnapshotSchema.parse(body);
    return since !== undefined && snapshot.version <= since ? undefined : snapshot;
  }

  async routingUpdate(
    since: number | undefined,
    waitSeconds: number,
    epoch?: string,
  ): Promise<RoutingUpdate | undefined> {
    const body = await this.#routing(since, waitSeconds, true, epoch);
    if (body === undefined) return undefined;
    if ((body as { kind?: unknown }).kind === 'delta') return RoutingDeltaSchema.parse(body);
    // A full snapshot is taken whatever its version: the control plane sends one when the router's
    // version is from another epoch (a restart from another database), which may be higher.
    return RoutingSnapshotSchema.parse(body);
  }

  async #routing(since: number | undefined, waitSeconds: number, delta: boolean, epoch?: string): Promise<unknown> {
    const params = new URLSearchParams();
    if (since !== undefined) params.set('since', String(since));
    if (since !== undefined) params.set('waitSeconds', String(waitSeconds));
    if (since !== undefined && epoch !== undefined) params.set('epoch', epoch);
    if (delta) params.set('delta', 'true');
    const query = params.size > 0 ? `?${params}` : '';
    const response = await this.#fetch(`${this.#baseUrl}${routingPath}${query}`, {
      headers: this.#headers,
      signal: AbortSignal.timeout(waitSeconds * 1000 + longPollGraceMs),
    });
    if (response.status === 304 || response.status === 204) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw await callError('GET', routingPath, response);
    return response.json();
  }

  async activate(request: ActivateRequest): Promise<void> {
    await this.#post(activatePath, request);
  }

  reportStats(stats: RouterStats): Promise<void> {
    return this.#stats.send(stats);
  }

  /** Ends the stats stream. */
  close(): void {
    this.#stats.close();
  }

  async #post(path: string, body: unknown): Promise<void> {
    const response = await this.#fetch(`${this.#baseUrl}${path}`, {
      method: 'POST',
      headers: { ...this.#headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(callTimeoutMs),
    });
    if (!response.ok) throw await callError('POST', path, response);
    await response.body?.cancel();
  }
}

async function callError(method: string, path: string, response: Response): Promise<Error> {
  const text = (await response.text()).slice(0, 200);
  return new Error(`control plane answered ${method} ${path} with ${response.status}: ${text}`);
}
