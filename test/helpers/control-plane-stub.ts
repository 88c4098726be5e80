import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  type ActivateRequest,
  activatePath,
  type RouterStats,
  type RoutingSnapshot,
  routingPath,
  statsPushPath,
} from '@skiff/shared';

/**
 * A stand-in for the control plane's internal endpoints, run in the test process: it serves
 * routing snapshots with long-poll (`?since=V&waitSeconds=S`) and records what routers send
 * (activation pokes and stats). Every call must carry the router token. It can be stopped and
 * started again on the same port, to test that routers keep serving without it.
 */
export class ControlPlaneStub {
  readonly token: string;
  snapshot: RoutingSnapshot;
  readonly pokes: ActivateRequest[] = [];
  readonly stats: RouterStats[] = [];
  /** Calls refused for a missing or wrong token. */
  unauthorized = 0;
  port = 0;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #waiting = new Set<() => void>();

  constructor(token = 'router-token-for-tests') {
    this.token = token;
    this.snapshot = { version: 1, generatedAt: new Date().toISOString(), routes: [], revisions: [] };
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Publishes a new snapshot (version bumped) and wakes every waiting long-poll. */
  publish(
    content: Pick<RoutingSnapshot, 'routes' | 'revisions'> &
      Partial<Pick<RoutingSnapshot, 'certificates' | 'challenges'>>,
  ): RoutingSnapshot {
    this.snapshot = {
      version: this.snapshot.version + 1,
      generatedAt: new Date().toISOString(),
      ...content,
    };
    for (const wake of this.#waiting) wake();
    this.#waiting.clear();
    return this.snapshot;
  }

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    this.#server = server;
  }

  /** Stops answering at once: the listener closes and every open connection is cut. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    this.#waiting.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.unauthorized++;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('router token required\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://stub');
    if (req.method === 'GET' && url.pathname === routingPath) {
      const since = url.searchParams.get('since');
      const waitSeconds = Number(url.searchParams.get('waitSeconds') ?? 0);
      const send = () => {
        if (!res.writableEnded)
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.snapshot));
      };
      if (since === null || Number(since) < this.snapshot.version || waitSeconds <= 0) {
        send();
        return;
      }
      const timer = setTimeout(() => {
        this.#waiting.delete(wake);
        send();
      }, waitSeconds * 1000);
      const wake = () => {
        clearTimeout(timer);
        send();
      };
      this.#waiting.add(wake);
      res.once('close', () => {
        clearTimeout(timer);
        this.#waiting.delete(wake);
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === activatePath) {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        this.pokes.push(JSON.parse(body) as ActivateRequest);
        res.writeHead(202).end();
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === statsPushPath) {
      // The stats stream: each line recorded as it arrives (the stream stays open for a minute).
      let pending = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        const lines = (pending + d).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) this.stats.push(JSON.parse(line) as RouterStats);
      });
      req.on('end', () => res.writeHead(204).end());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}
