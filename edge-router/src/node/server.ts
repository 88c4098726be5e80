import { createServer, type Server, type Socket } from 'node:net';
import { Deadlines } from '@skiff/queue-proxy/src/proxy/deadlines.ts';
import type { RouterConfig } from '../config.ts';
import type { RouterCore } from '../core.ts';
import { ClientConnection, type ConnectionHost } from './connection.ts';
import { EndpointPool } from './upstream.ts';

/** How long an idle client keep-alive connection stays open. */
const keepAliveTimeoutMs = 65_000;

/**
 * The router's Node server. It speaks HTTP/1.1 on the sockets itself rather than through
 * `node:http` + fetch or undici: on this project's 2-core machines that path reached about a third
 * of nginx's throughput, this one over half (`bench/edge-router.mjs`). Routing, holding and load
 * balancing are the same core every runtime uses.
 */
export class RouterServer implements ConnectionHost {
  readonly core: RouterCore;
  readonly config: RouterConfig;
  readonly deadlines = new Deadlines();
  readonly server: Server;
  readonly #pools = new Map<string, EndpointPool>();
  readonly #connections = new Set<ClientConnection>();

  constructor(core: RouterCore) {
    this.core = core;
    this.config = core.config;
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
      this.#connections.add(new ClientConnection(this, socket, keepAliveTimeoutMs));
    });
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

  pool(url: string): EndpointPool {
    let pool = this.#pools.get(url);
    if (pool === undefined) {
      pool = new EndpointPool(url);
      this.#pools.set(url, pool);
    }
    return pool;
  }

  forget(conn: ClientConnection): void {
    this.#connections.delete(conn);
  }

  async close(): Promise<void> {
    this.deadlines.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.#connections) c.destroy();
    for (const p of this.#pools.values()) p.close();
    await closed;
  }
}
