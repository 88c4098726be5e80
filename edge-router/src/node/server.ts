import { createServer, type Server, type Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import {
  type Answer,
  acceptEither,
  Deadlines,
  EndpointPool,
  H2Forwarder,
  type Hop,
  headerValue,
  ProxyConnection,
  type RequestHead,
} from '@skiff/http';
import type { SnapshotRevision } from '@skiff/shared';
import { answers } from '../answers.ts';
import type { RouterConfig } from '../config.ts';
import type { RouterCore } from '../core.ts';
import { tagHeader } from '../forward/headers.ts';
import type { Lease } from '../hold/throttler.ts';
import { normalizeHost } from '../routing/host.ts';
import type { RoutingTable } from '../routing/table.ts';
import { OcspStapler } from './ocsp.ts';
import { RevisionRoute, type RevisionRouteHost } from './revision-route.ts';
import { type CertificateSource, TlsTerminator } from './tls.ts';

const acmeChallengePath = '/.well-known/acme-challenge/';

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
  /** The router is the edge: the scheme is the listener's, never what a client claims. */
  readonly scheme = 'http';
  readonly server: Server;
  readonly #pools = new Map<string, EndpointPool>();
  /** Routes made for the revisions of `#routesTable` (see `#revisionRoute`). */
  readonly #routes = new Map<SnapshotRevision, (RevisionRoute | undefined)[]>();
  #routesTable: RoutingTable | undefined;
  readonly #connections = new Set<ProxyConnection<Lease>>();
  /**
   * HTTP/2 with prior knowledge, and after `Upgrade: h2c`; and over TLS: streams forwarded frame
   * by frame (see `http/README.md` for which path takes what).
   */
  readonly #frames: H2Forwarder<Lease>;
  readonly #httpsFrames: H2Forwarder<Lease>;
  /** The HTTPS side, once `listenTls` was called: the same engine behind a TLS listener. */
  tls: { terminator: TlsTerminator; server: TlsServer } | undefined;
  /** The engine's view of this server for connections that came through TLS. */
  readonly #https: Hop<Lease>;

  constructor(core: RouterCore) {
    this.core = core;
    this.config = core.config;
    this.headerTimeoutMs = this.config.headerTimeoutMs;
    this.maxBodyBytes = this.config.maxBodyBytes;
    this.revisionHeader = this.config.revisionHeader;
    this.#https = {
      deadlines: this.deadlines,
      headerTimeoutMs: this.headerTimeoutMs,
      route: (head) => this.route(head, 'https'),
      forget: (conn) => this.forget(conn),
      scheme: 'https',
    };
    this.#frames = new H2Forwarder(this);
    this.#httpsFrames = new H2Forwarder(this.#https);
    // HTTP/1.1 and HTTP/2 (prior knowledge, or `Upgrade: h2c` to an h2c revision) on one port.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) =>
      acceptEither(
        socket,
        (s) => this.#connections.add(ProxyConnection.accept(this, s, keepAliveTimeoutMs)),
        (stream) => this.#frames.accept(stream),
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

  /**
   * Also serve HTTPS on `port`: TLS terminated here (certificates from `sources`, see `tls.ts`), then
   * the same engine and routing as plain HTTP.
   */
  listenTls(
    port: number,
    host: string,
    sources: CertificateSource[],
    publicPort?: number,
    log: (message: string) => void = () => {},
  ): Promise<number> {
    const terminator = new TlsTerminator(sources);
    const server = terminator.createServer((socket) => {
      // Nagle off on every TLS connection, explicitly (small records must not wait for an ACK).
      socket.setNoDelay(true);
      if (socket.alpnProtocol === 'h2') this.#httpsFrames.accept(socket);
      else this.#connections.add(new ProxyConnection(this.#https, socket, keepAliveTimeoutMs));
    });
    // A failed handshake (no certificate for the name, TLS 1.1) concerns only that client.
    server.on('tlsClientError', () => {});
    // OCSP stapling for clients that ask (status_request), when the certificate names a responder.
    const stapler = new OcspStapler({ log });
    server.on('OCSPRequest', (cert: Buffer, issuer: Buffer, cb: (error: Error | null, response?: Buffer) => void) => {
      stapler.staple(cert, issuer).then(
        (response) => cb(null, response),
        () => cb(null),
      );
    });
    this.tls = { terminator, server };
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address();
        const bound = typeof address === 'object' && address ? address.port : port;
        this.tlsPublicPort = publicPort ?? bound;
        resolve(bound);
      });
    });
  }

  /**
   * Host → route → revision, or the answer when there is none (404) or the body is too large.
   * On plain HTTP: ACME HTTP-01 challenges the control plane asked for, and the host's
   * `http-protocol` (a redirect to HTTPS, or a refusal).
   */
  route(head: RequestHead, scheme: 'http' | 'https' = 'http'): RevisionRoute | Answer {
    const core = this.core;
    if (scheme === 'http' && head.target.startsWith(acmeChallengePath)) {
      const keyAuthorization = core.table.challenges.get(head.target.slice(acmeChallengePath.length));
      if (keyAuthorization !== undefined) return { status: 200, message: keyAuthorization };
    }
    const resolution = core.resolve(head.host, core.config.tagHeaderRouting ? headerValue(head, tagHeader) : undefined);
    if (!resolution.ok) return resolution;
    const http = resolution.entry.httpProtocol;
    if (scheme === 'http' && http !== 'enabled') {
      const host = head.host ?? '';
      if (http === 'disabled') return { status: 404, message: `plain HTTP is disabled for ${host}; use https` };
      // As Knative, redirect only once the host's certificate is ready (an ACME one may still be
      // on order): until then plain HTTP serves it rather than sending clients to a failed handshake.
      if (this.tls?.terminator.serves(normalizeHost(head.host) ?? '') === true) {
        const port = this.tlsPublicPort;
        const authority = `${host.replace(/:\d+$/, '')}${port === 443 ? '' : `:${port}`}`;
        const path = head.target.startsWith('/') ? head.target : '/';
        return { status: 301, message: 'moved to https', headers: [['location', `https://${authority}${path}`]] };
      }
    }
    const limit = this.maxBodyBytes;
    if (limit > 0 && head.contentLength !== undefined && head.contentLength > limit) return answers.bodyTooLarge(limit);
    return this.#revisionRoute(resolution.revision, scheme === 'http' ? 0 : http === 'redirected' ? 2 : 1);
  }

  /**
   * The route of every request to `revision` over one kind of listener (0: HTTP, 1: HTTPS, 2: HTTPS
   * with HSTS): a route holds only what its revision and scheme decide, so it is made once and
   * kept until the routing table changes (a new table has new revision objects), rather than made
   * per request with its throttler looked up by key (bench/RESULTS.md, issue 14, h14r).
   */
  #revisionRoute(revision: SnapshotRevision, kind: 0 | 1 | 2): RevisionRoute {
    const table = this.core.table;
    if (table !== this.#routesTable) {
      this.#routesTable = table;
      this.#routes.clear();
    }
    let routes = this.#routes.get(revision);
    if (routes === undefined) {
      routes = [];
      this.#routes.set(revision, routes);
    }
    let route = routes[kind];
    if (route === undefined) {
      route = new RevisionRoute(
        this,
        revision,
        this.core.throttler(revision),
        kind === 0 ? 'http' : 'https',
        kind === 2,
      );
      routes[kind] = route;
    }
    return route;
  }

  /** The HTTPS port redirects name (the TLS listener's, unless told the public one). */
  tlsPublicPort = 443;

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
    this.#frames.upgrade(socket, head, settings, buffered);
  }

  forget(conn: ProxyConnection<Lease>): void {
    this.#connections.delete(conn);
  }

  async close(): Promise<void> {
    this.deadlines.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const tlsClosed = new Promise<void>((resolve) => (this.tls ? this.tls.server.close(() => resolve()) : resolve()));
    for (const c of this.#connections) c.destroy();
    this.#frames.close();
    this.#httpsFrames.close();
    for (const p of this.#pools.values()) p.close();
    await closed;
    await tlsClosed;
  }
}
