import { createServer, type Server, type Socket } from 'node:net';
import {
  type Answer,
  acceptEither,
  Deadlines,
  EndpointPool,
  type Hop,
  Http2Proxy,
  headerValue,
  ProxyConnection,
  type RequestHead,
} from '@skiff/http';
import { answers } from '../answers.ts';
import type { RouterConfig } from '../config.ts';
import type { RouterCore } from '../core.ts';
import { tagHeader } from '../forward/headers.ts';
import type { Lease } from '../hold/throttler.ts';
import { RevisionRoute, type RevisionRouteHost } from './revision-route.ts';

/** How long an idle client keep-alive connection stays open. */
const keepAliveTimeoutMs = 65_000;

/**
 * The router's Node server. It speaks HTTP/1.1 on the sockets itself (the engine in `@skiff/http`)
 * rather than through `node:http` + fetch or undici: on this project's 2-core machines that path
 * reached about a third of nginx's throughput, this one over half (`bench/edge-router.mjs`).
 * Routing, holding and load balancing are the same core every runtime uses.
 */
export class RouterServer implements Hop<Lease>, RevisionRouteHost {
  readonly core: RouterCore;
  readonly config: RouterConfig;
  readonly deadlines = new Deadlines();
  readonly headerTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly revisionHeader: boolean;
  readonly server: Server;
  readonly #pools = new Map<string, EndpointPool>();
  readonly #connections = new Set<ProxyConnection<Lease>>();
  readonly #http2: Http2Proxy<Lease>;

  constructor(core: RouterCore) {
    this.core = core;
    this.config = core.config;
    this.headerTimeoutMs = this.config.headerTimeoutMs;
    this.maxBodyBytes = this.config.maxBodyBytes;
    this.revisionHeader = this.config.revisionHeader;
    this.#http2 = new Http2Proxy(this);
    // HTTP/1.1 and HTTP/2 (prior knowledge, or `Upgrade: h2c` to an h2c revision) on one port.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) =>
      acceptEither(
        socket,
        (s) => this.#connections.add(new ProxyConnection(this, s, keepAliveTimeoutMs)),
        (stream) => this.#http2.accept(stream),
      ),
    );
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Host → route → revision, or the answer when there is none (404) or the body is too large. */
  route(head: RequestHead): RevisionRoute | Answer {
    const core = this.core;
    const resolution = core.resolve(head.host, core.config.tagHeaderRouting ? headerValue(head, tagHeader) : undefined);
    if (!resolution.ok) return resolution;
    const limit = this.maxBodyBytes;
    if (limit > 0 && head.contentLength !== undefined && head.contentLength > limit) return answers.bodyTooLarge(limit);
    return new RevisionRoute(this, resolution.revision, core.throttler(resolution.revision));
  }

  pool(url: string): EndpointPool {
    let pool = this.#pools.get(url);
    if (pool === undefined) {
      pool = EndpointPool.fromUrl(url);
      this.#pools.set(url, pool);
    }
    return pool;
  }

  /** `Upgrade: h2c` to a revision whose port is named h2c: the rest of the connection is HTTP/2. */
  upgradeH2c(socket: Socket, head: RequestHead, settings: Buffer, buffered: Buffer | undefined): void {
    this.#http2.upgrade(socket, head, settings, buffered);
  }

  forget(conn: ProxyConnection<Lease>): void {
    this.#connections.delete(conn);
  }

  async close(): Promise<void> {
    this.deadlines.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.#connections) c.destroy();
    this.#http2.close();
    for (const p of this.#pools.values()) p.close();
    await closed;
  }
}
