import { createServer, type Server } from 'node:http';
import type { RouterCore } from '../core.ts';
import { routerMetrics } from '../stats/metrics.ts';

/**
 * The router's metrics listener, apart from the traffic port as Knative's activator keeps it
 * (its 9090): `GET /metrics` in Prometheus text. `node:http` rather than the proxy engine of
 * `@skiff/http`, as the queue-proxy's metrics port: a scrape a second needs no proxying engine.
 */
export class MetricsServer {
  readonly server: Server;

  constructor(core: RouterCore) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      const body = routerMetrics(core.throttlers.values());
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
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

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
