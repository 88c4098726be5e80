import { type Agent, request } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Milliseconds from sending to the end of the response (or the error). */
  ms: number;
  /** Set when the response was cut off or the connection failed. */
  error?: string;
}

/** One HTTP request (on a fresh connection unless an agent is given), collecting the whole response. */
export function get(
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs?: number;
    agent?: Agent;
  } = {},
): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, agent: init.agent ?? false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: Date.now() - started }),
        );
        res.on('error', (e) =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            ms: Date.now() - started,
            error: e.message,
          }),
        );
      },
    );
    req.on('error', (e) => resolve({ status: 0, headers: {}, body: '', ms: Date.now() - started, error: e.message }));
    if (init.timeoutMs) req.setTimeout(init.timeoutMs, () => req.destroy(new Error('client timeout')));
    req.end(init.body);
  });
}

/** Writes raw bytes to a port and collects what comes back until the server closes (or `waitMs`). */
export function raw(
  port: number,
  data: string | Buffer,
  waitMs = 3000,
): Promise<{ text: string; closed: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(data);
  });
}

/**
 * An HTTP server on loopback that answers the first request of each connection (keeping it
 * alive) and drops the connection on any later one without answering, as if it had gone stale or
 * the app had crashed. `seen` lists the dropped requests (`METHOD /path`).
 */
export async function dropsReusedConnections(): Promise<{ port: number; seen: string[]; close(): void }> {
  const seen: string[] = [];
  const server = createServer((socket) => {
    let buf = '';
    let answered = false;
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [method, path] = buf.split(' ');
      buf = buf.slice(end + 4);
      if (!answered) {
        answered = true;
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nwarm\n');
        return;
      }
      seen.push(`${method} ${path}`);
      socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen, close: () => server.close() };
}
