import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
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
import { bearerToken, type Stat, tokensEqual } from '@skiff/shared';
import { Breaker } from './breaker/breaker.ts';
import type { QueueProxyConfig } from './config.ts';
import { Drainer } from './drain/drainer.ts';
import { probeAttempt } from './probe/probe.ts';
import { Readiness } from './probe/readiness.ts';
import { AppRoute, type AppSlot } from './proxy/app-route.ts';
import { type SmallReply, SmallServer } from './small-server.ts';
import { ConcurrencyStats } from './stats/concurrency.ts';
import { Metrics } from './stats/metrics.ts';
import { StatsPusher } from './stats/push.ts';

export interface Logger {
  info(message: string): void;
  error(message: string): void;
}

/** How long an idle client connection (the router's keep-alive) stays open. */
const keepAliveTimeoutMs = 65_000;

/**
 * The queue-proxy: a serving port in front of the app (breaker, timeouts, stats, readiness),
 * an admin port (`/wait-for-drain`) and a metrics port (`/stats` for the autoscaler, `/metrics`
 * for Prometheus).
 */
export class QueueProxy implements Hop<AppSlot> {
  readonly config: QueueProxyConfig;
  readonly serving: Server;
  readonly admin: SmallServer;
  readonly metricsServer: SmallServer;
  readonly readiness: Readiness;
  readonly drainer: Drainer;
  readonly stats: ConcurrencyStats;
  readonly metrics: Metrics;
  readonly breaker: Breaker | undefined;
  readonly deadlines = new Deadlines();
  readonly headerTimeoutMs: number;
  /** Every request goes to the app, over one pool of keep-alive connections. */
  readonly slot: AppSlot;
  readonly #route: AppRoute;
  readonly #proxiedRoute: AppRoute;
  #connections = new Set<ProxyConnection<AppSlot>>();
  readonly #http2: H2Forwarder<AppSlot>;
  #lastStat: Stat;
  #statTimer: ReturnType<typeof setInterval> | undefined;
  #startedAt = Date.now();
  #pusher: StatsPusher | undefined;
  readonly #log: Logger;

  constructor(config: QueueProxyConfig, log: Logger) {
    this.config = config;
    this.#log = log;
    const cc = config.containerConcurrency;
    this.breaker = cc > 0 ? new Breaker(cc, config.queueDepth) : undefined;
    this.headerTimeoutMs = config.headerTimeoutMs;
    this.slot = { pool: new EndpointPool(config.userHost, config.userPort) };
    this.#route = new AppRoute(this, false);
    this.#proxiedRoute = new AppRoute(this, true);
    this.stats = new ConcurrencyStats(Date.now());
    this.metrics = new Metrics(config);
    this.drainer = new Drainer(config.drainQuietPeriodMs, () => this.stats.concurrency);
    this.readiness = new Readiness(
      config.readinessProbe,
      probeAttempt(config.readinessProbe, config.userHost, config.userPort),
      (ready) => log.info(ready ? 'app is ready' : 'app stopped passing its readiness probe'),
    );
    this.#lastStat = this.#stat(this.stats.report(Date.now()));

    this.#http2 = new H2Forwarder(this);
    // HTTP/1.1 and HTTP/2 with prior knowledge (h2c, from a router reaching an h2c revision).
    this.serving = createTcpServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) =>
      acceptEither(
        socket,
        (s) => this.#connections.add(ProxyConnection.accept(this, s, keepAliveTimeoutMs)),
        (stream) => this.#http2.accept(stream),
      ),
    );
    this.admin = new SmallServer(this.#onAdmin);
    this.metricsServer = new SmallServer(this.#onMetrics);
  }

  /** Starts listening and probing; resolves once all three ports listen. */
  async start(host = this.config.listenAddress): Promise<void> {
    await Promise.all([
      new Promise<void>((resolve, reject) => {
        this.serving.once('error', reject);
        this.serving.listen(this.config.servingPort, host, () => {
          this.serving.off('error', reject);
          resolve();
        });
      }),
      this.admin.listen(this.config.adminPort, host),
      this.metricsServer.listen(this.config.metricsPort, host),
    ]);
    this.readiness.start();
    const push = this.config.statsPush;
    if (push) {
      this.#pusher = new StatsPusher(
        { url: push.url, token: push.token, ...(push.caFile ? { ca: readFileSync(push.caFile, 'utf8') } : {}) },
        this.#log,
      );
    }
    this.#statTimer = setInterval(() => {
      this.#lastStat = this.#stat(this.stats.report(Date.now()));
      this.#pusher?.push(this.#lastStat);
    }, 1000);
    this.#statTimer.unref();
  }

  /** Drains (see `Drainer`), then closes everything. */
  async drainAndStop(): Promise<void> {
    await this.drainer.drain();
    await this.stop();
  }

  async stop(): Promise<void> {
    this.readiness.stop();
    clearInterval(this.#statTimer);
    this.#pusher?.close();
    this.deadlines.stop();
    const closed = Promise.all([
      new Promise<void>((resolve) => this.serving.close(() => resolve())),
      this.admin.close(),
      this.metricsServer.close(),
    ]);
    for (const c of this.#connections) c.destroy();
    this.#http2.close();
    this.slot.pool.close();
    await closed;
  }

  // Hop and AppRouteHost: what the engine asks and each request reports.

  route(head: RequestHead): AppRoute | Answer {
    // `K-Network-Probe` requests are answered here; they never reach the app and are not counted.
    const probe = headerValue(head, 'k-network-probe');
    if (probe !== undefined) return this.probe(probe);
    return headerValue(head, 'k-proxy-request') === 'activator' ? this.#proxiedRoute : this.#route;
  }

  probe(value: string): Answer {
    if (value !== 'queue') return { status: 400, message: `unexpected probe header value: ${value}` };
    if (this.drainer.draining) return { status: 503, message: 'shutting down' };
    if (!this.readiness.ready) return { status: 503, message: 'not ready' };
    return { status: 200, message: 'queue' };
  }

  started(at: number, proxied: boolean): void {
    this.drainer.touch(at);
    this.stats.requestIn(at, proxied);
  }

  finished(proxied: boolean, status: number, durationMs: number): void {
    this.stats.requestOut(Date.now(), proxied);
    if (status > 0) this.metrics.observe(status, durationMs / 1000);
  }

  rejected(): void {
    this.metrics.rejected();
  }

  forget(conn: ProxyConnection<AppSlot>): void {
    this.#connections.delete(conn);
  }

  #stat(s: ReturnType<ConcurrencyStats['report']>): Stat {
    return {
      namespace: this.config.namespace,
      revision: this.config.revision,
      pod: this.config.pod,
      ...s,
      processUptimeSeconds: (Date.now() - this.#startedAt) / 1000,
    };
  }

  readonly #onAdmin = (head: RequestHead): SmallReply | Promise<SmallReply> => {
    const path = pathOf(head.target);
    const token = this.config.adminToken;
    if (
      token !== undefined &&
      path !== '/healthz' &&
      !tokensEqual(bearerToken(headerValue(head, 'authorization')) ?? '', token)
    ) {
      return {
        status: 401,
        headers: [['www-authenticate', 'Bearer']],
        body: "unauthorized: the admin port needs this replica's token\n",
      };
    }
    if (path === '/wait-for-drain' && (head.method === 'GET' || head.method === 'POST')) {
      return this.drainer.drain().then(
        () => ({ status: 200, body: 'drained\n' }),
        (e: unknown) => ({ status: 500, body: `${String(e)}\n` }),
      );
    }
    if (path === '/healthz') return { status: 200, body: 'ok\n' };
    return notFound;
  };

  readonly #onMetrics = (head: RequestHead): SmallReply => {
    const path = pathOf(head.target);
    if (path === '/stats') {
      return { status: 200, headers: [['content-type', 'application/json']], body: JSON.stringify(this.#lastStat) };
    }
    if (path === '/metrics') {
      const body = this.metrics.render({
        inFlight: this.breaker ? this.breaker.inFlight : this.stats.concurrency,
        queueDepth: this.breaker?.waiting ?? 0,
        appReady: this.readiness.ready,
        draining: this.drainer.draining,
        averageConcurrency: this.#lastStat.averageConcurrency,
        requestsPerSecond: this.#lastStat.requestsPerSecond,
      });
      return { status: 200, headers: [['content-type', 'text/plain; version=0.0.4; charset=utf-8']], body };
    }
    return notFound;
  };
}

const notFound: SmallReply = { status: 404, body: 'not found\n' };

/** The path of a request target (origin-form; an absolute-form target's path too). */
function pathOf(target: string): string {
  const path = target.startsWith('/') ? target : target.replace(/^[a-z]+:\/\/[^/]*/i, '');
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
