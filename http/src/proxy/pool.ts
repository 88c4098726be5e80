import type { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { http } from '../builtins.ts';
import { type ConnOwner, H2Conn } from '../h2/conn.ts';

/** What an upstream connection reports to the request using it. */
export interface UpstreamUser {
  upstreamConnected(conn: UpstreamConnection): void;
  /**
   * Bytes read from upstream. `chunk` is a view of one buffer every upstream connection reads
   * into, valid only during the call: whatever is kept (or written, unless the write is known to
   * have completed) must be copied first.
   */
  upstreamData(conn: UpstreamConnection, chunk: Buffer): void;
  upstreamClosed(conn: UpstreamConnection, error: NodeJS.ErrnoException | undefined): void;
}

/** Idle keep-alive connections are closed after this long, before the queue-proxy's 65 s. */
const idleTimeoutMs = 30_000;
const maxIdlePerEndpoint = 512;

/**
 * The one buffer all upstream connections read into (`onread`): Node's stream path allocates a
 * 64 KiB buffer per read, shrinks it to the bytes read and wraps it as a JavaScript Buffer for the
 * socket's `data` event; reading into one buffer and copying out the few bytes kept costs fewer
 * instructions per proxied request (bench/RESULTS.md, "router's CPU per request", issue 14). Reads are
 * handled one at a time on the event loop, so sharing it is safe as long as no reader keeps a view.
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

/**
 * One HTTP/1.1 connection to an endpoint. Its listeners stay for its whole life and report to
 * whichever request uses it now; while idle in the pool, anything it hears makes it unusable.
 */
export class UpstreamConnection {
  readonly socket: Socket;
  readonly pool: EndpointPool;
  user: UpstreamUser | undefined;
  connected = false;
  /** Carried a response before, so it may have gone stale while idle. */
  reused = false;
  /** When it was last parked idle in the pool (`Date.now()`). */
  idleSince = 0;
  #error: NodeJS.ErrnoException | undefined;

  constructor(pool: EndpointPool) {
    this.pool = pool;
    this.socket = connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      onread: { buffer: readBuffer, callback: (bytes) => this.#read(bytes) },
    });
    this.socket.on('connect', () => {
      this.connected = true;
      this.user?.upstreamConnected(this);
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#error = error;
    });
    this.socket.on('close', () => {
      this.pool.forget(this);
      const user = this.user;
      this.user = undefined;
      user?.upstreamClosed(this, this.#error);
    });
  }

  #read(bytes: number): boolean {
    if (this.user !== undefined) this.user.upstreamData(this, readBuffer.subarray(0, bytes));
    else this.socket.destroy();
    // The user pauses the socket itself when the client cannot take more.
    return true;
  }

  /** Hands the connection back after a clean response; it may carry the next request. */
  release(): void {
    this.user = undefined;
    this.reused = true;
    this.pool.park(this);
  }

  destroy(): void {
    this.user = undefined;
    this.socket.destroy();
  }
}

/** Keep-alive connections to one endpoint, shared by all client connections. */
export class EndpointPool {
  readonly host: string;
  readonly port: number;
  #idle: UpstreamConnection[] = [];
  /**
   * Closes connections idle past `idleTimeoutMs`, checked every quarter of it: one timer per pool
   * rather than a socket timeout set and cleared on every request.
   */
  #sweep: ReturnType<typeof setInterval> | undefined;
  /** The one h2c connection to the endpoint (`h2c()`), and the timer that closes it when idle. */
  #h2c: H2Conn | undefined;
  #h2cSweep: ReturnType<typeof setInterval> | undefined;
  readonly #h2cOwner: ConnOwner = {
    goaway: (conn) => this.#dropH2c(conn),
    closed: (conn) => this.#dropH2c(conn),
  };
  #agent: Agent | undefined;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
  }

  /** A pool for `http://host:port`. */
  static fromUrl(url: string): EndpointPool {
    const parsed = new URL(url);
    return new EndpointPool(parsed.hostname.replace(/^\[|\]$/g, ''), Number(parsed.port || 80));
  }

  /** An idle connection, or a new one (not yet connected). */
  take(user: UpstreamUser): UpstreamConnection {
    let conn = this.#idle.pop();
    while (conn?.socket.destroyed) conn = this.#idle.pop();
    if (conn === undefined) conn = new UpstreamConnection(this);
    conn.user = user;
    return conn;
  }

  park(conn: UpstreamConnection): void {
    if (this.#idle.length >= maxIdlePerEndpoint) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = Date.now();
    this.#idle.push(conn);
    if (this.#sweep === undefined) {
      this.#sweep = setInterval(() => this.#closeIdle(Date.now() - idleTimeoutMs), idleTimeoutMs / 4);
      this.#sweep.unref();
    }
  }

  /** Closes the connections parked before `before` (the oldest are first in the list). */
  #closeIdle(before: number): void {
    let n = 0;
    while (n < this.#idle.length && (this.#idle[n] as UpstreamConnection).idleSince < before) n++;
    for (const conn of this.#idle.splice(0, n)) conn.socket.destroy();
    if (this.#idle.length === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  forget(conn: UpstreamConnection): void {
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  /**
   * The one HTTP/2 (h2c) connection to the endpoint (`H2Conn`, client side), opened when first
   * asked for; the streams of every request that goes there over h2c share it, whichever version
   * the client spoke (`H2Forwarder`, and the HTTP/1.1 engine for an h2c route). A new one replaces
   * it once it is going away (GOAWAY) or closed; idle past `idleTimeoutMs`, it is closed.
   */
  h2c(): H2Conn {
    const current = this.#h2c;
    if (current !== undefined && !current.goingAway) return current;
    const conn = H2Conn.connect(this.host, this.port, this.#h2cOwner);
    this.#h2c = conn;
    if (this.#h2cSweep === undefined) {
      this.#h2cSweep = setInterval(() => {
        const c = this.#h2c;
        if (c === undefined || (c.idleSince !== 0 && c.idleSince < Date.now() - idleTimeoutMs)) {
          this.#h2c = undefined;
          c?.shutdown();
          clearInterval(this.#h2cSweep);
          this.#h2cSweep = undefined;
        }
      }, idleTimeoutMs / 4);
      this.#h2cSweep.unref();
    }
    return conn;
  }

  #dropH2c(conn: H2Conn): void {
    if (this.#h2c === conn) this.#h2c = undefined;
  }

  /**
   * Keep-alive HTTP/1.1 connections for requests that came over HTTP/2 to a revision that speaks
   * HTTP/1.1 (`node:http` frames them: see `H2Forwarder`), idle ones closed as the pool's own.
   */
  agent(): Agent {
    this.#agent ??= new (http().Agent)({ keepAlive: true, timeout: idleTimeoutMs });
    return this.#agent;
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#agent?.destroy();
    this.#agent = undefined;
    for (const conn of this.#idle) conn.socket.destroy();
    this.#idle = [];
    clearInterval(this.#h2cSweep);
    this.#h2cSweep = undefined;
    this.#h2c?.destroy();
    this.#h2c = undefined;
  }
}
