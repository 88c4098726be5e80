import {
  type ActivateRequest,
  activatePath,
  type RouterStats,
  type RoutingSnapshot,
  RoutingSnapshotSchema,
  routerStatsPath,
  routingPath,
} from '@skiff/shared';

export type Fetch = (input: Request | string, init?: RequestInit) => Promise<Response>;

/** What the router asks of the control plane; a fake in unit tests, HTTP in every runtime. */
export interface ControlPlane {
  /** The snapshot newer than `since`, waiting up to `waitSeconds`; undefined when nothing changed. */
  routing(since: number | undefined, waitSeconds: number): Promise<RoutingSnapshot | undefined>;
  /** A revision has held requests: scale it from zero now. */
  activate(request: ActivateRequest): Promise<void>;
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

  constructor(baseUrl: string, routerToken: string, fetchFn: Fetch = (input, init) => fetch(input, init)) {
    this.#baseUrl = baseUrl;
    this.#headers = { authorization: `Bearer ${routerToken}` };
    this.#fetch = fetchFn;
  }

  async routing(since: number | undefined, waitSeconds: number): Promise<RoutingSnapshot | undefined> {
    const query = since === undefined ? '' : `?since=${since}&waitSeconds=${waitSeconds}`;
    const response = await this.#fetch(`${this.#baseUrl}${routingPath}${query}`, {
      headers: this.#headers,
      signal: AbortSignal.timeout(waitSeconds * 1000 + longPollGraceMs),
    });
    if (response.status === 304 || response.status === 204) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw await callError('GET', routingPath, response);
    const snapshot = RoutingSnapshotSchema.parse(await response.json());
    return since !== undefined && snapshot.version <= since ? undefined : snapshot;
  }

  async activate(request: ActivateRequest): Promise<void> {
    await this.#post(activatePath, request);
  }

  async reportStats(stats: RouterStats): Promise<void> {
    await this.#post(routerStatsPath, stats);
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
