import { type Agent, request } from 'node:http';
import { connect } from 'node:net';

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
