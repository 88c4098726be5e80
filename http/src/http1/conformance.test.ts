import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deadlines } from '../proxy/deadlines.ts';
import { type Answer, type Hop, type Pending, ProxyConnection, type Route } from '../proxy/engine.ts';
import { EndpointPool } from '../proxy/pool.ts';
import { conformanceCases, exchange } from '../testing.ts';
import type { RequestHead, ResponseHead } from './parse.ts';
import { forwardRequestHead, forwardResponseHead } from './write.ts';

/** The app: reads the whole body, then says so. Served by node:http, so also llhttp's verdict. */
function app(): HttpServer {
  return createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`app host=${req.headers.host ?? ''}\n`));
  });
}

/** The engine with the simplest hop: everything to one upstream, no limits. */
class TestHop implements Hop<true>, Route<true> {
  readonly deadlines = new Deadlines();
  readonly headerTimeoutMs = 5000;
  readonly maxBodyBytes = 0;
  readonly upstreamProtocol = 'as-received';
  readonly upstream: EndpointPool;
  constructor(port: number) {
    this.upstream = new EndpointPool('127.0.0.1', port);
  }
  route(): Route<true> {
    return this;
  }
  forget(): void {}
  enter(): true {
    return true;
  }
  cancel(): void {}
  release(): void {}
  retryElsewhere(): undefined {
    return undefined;
  }
  pool(): EndpointPool {
    return this.upstream;
  }
  requestHead(head: RequestHead, client: string): string {
    return forwardRequestHead(head, client);
  }
  responseHead(head: ResponseHead, close: boolean, keepAliveFor10: boolean): string {
    return forwardResponseHead(head, close, keepAliveFor10);
  }
  ownRequestHeader(): undefined {
    return undefined;
  }
  ownResponseHeader(): undefined {
    return undefined;
  }
  expired(_ex: Pending<true>): undefined {
    return undefined;
  }
  queueFull(): Answer {
    return { status: 503, message: 'full' };
  }
  timeout(): Answer {
    return { status: 504, message: 'timeout' };
  }
  failed(reason: string): Answer {
    return { status: 502, message: reason };
  }
  bodyTooLarge(): Answer {
    return { status: 413, message: 'too large' };
  }
  finished(): void {}
}

const listen = (server: Server | HttpServer) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );

/**
 * HTTP/1.1 request conformance (RFC 9112; the table is in `../testing.ts`, which the suite in
 * `test/data-plane/` runs through the router and the queue-proxy too), each case run through the
 * engine both hops use and through Node's own parser (llhttp, `node:http`): the two must take the
 * same accept/reject decision, unless the case is marked `stricter`.
 */
describe('HTTP/1.1 request conformance: the engine and llhttp', () => {
  let appServer: HttpServer;
  let proxy: Server;
  let hop: TestHop;
  let appPort = 0;
  let proxyPort = 0;

  beforeAll(async () => {
    appServer = app();
    appPort = await listen(appServer);
    hop = new TestHop(appPort);
    proxy = createServer({ allowHalfOpen: true }, (socket) => new ProxyConnection(hop, socket, 5000));
    proxyPort = await listen(proxy);
  });

  afterAll(() => {
    hop.deadlines.stop();
    hop.upstream.close();
    proxy.close();
    appServer.closeAllConnections();
    appServer.close();
  });

  it.each(conformanceCases)('$name', async (c) => {
    const [ours, llhttp] = await Promise.all([exchange(proxyPort, c.raw), exchange(appPort, c.raw)]);
    expect(ours.accepted, `engine: status ${ours.status}`).toBe(c.accept);
    if (!c.accept && c.status !== undefined) expect(ours.status).toBe(c.status);
    expect(llhttp.accepted, `llhttp: status ${llhttp.status}`).toBe(c.stricter ? true : c.accept);
  });

  it('routes an absolute-form target by its authority, not by Host (RFC 9112 §3.2.2)', async () => {
    const ours = await exchange(proxyPort, 'GET http://x.example:8080/upload HTTP/1.1\r\nHost: other\r\n\r\n');
    expect(ours).toMatchObject({ accepted: true, host: 'x.example:8080' });
  });

  it('refuses more than 1 KiB of empty lines before a request line', async () => {
    const ours = await exchange(proxyPort, `${'\r\n'.repeat(600)}GET / HTTP/1.1\r\nHost: h\r\n\r\n`);
    expect(ours.status).toBe(400);
  });
});
