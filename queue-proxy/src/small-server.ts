import { createServer, type Server, type Socket } from 'node:net';
import { isHeadError, keepsAlive, maxRequestHeadBytes, parseRequestHead, type RequestHead, reasons } from '@skiff/http';

/** What a handler answers: a status, headers besides the framing, a small body. */
export interface SmallReply {
  status: number;
  headers?: readonly (readonly [string, string])[];
  body: string;
}

export type SmallHandler = (head: RequestHead) => SmallReply | Promise<SmallReply>;

/** How long an idle connection (a scraper's keep-alive) stays open. */
const idleTimeoutMs = 65_000;
const headEnd = '\r\n\r\n';

/** A reply as HTTP/1.1 bytes (`close`: the connection ends after it). */
export function replyBytes(reply: SmallReply, close: boolean, method: string): string {
  let head = `HTTP/1.1 ${reply.status} ${reasons[reply.status] ?? 'Unknown'}\r\n`;
  for (const [name, value] of reply.headers ?? []) head += `${name}: ${value}\r\n`;
  head += `content-length: ${Buffer.byteLength(reply.body)}\r\n${close ? 'connection: close\r\n' : ''}\r\n`;
  return method === 'HEAD' ? head : head + reply.body;
}

/**
 * The admin and metrics ports: bodiless requests (GET, POST without a body), one at a time per
 * connection, heads parsed by `@skiff/http`'s parser, answered by `handler`. Written on `node:net`
 * because loading `node:http` for these two ports was about 1.1 MiB of the queue-proxy's peak RSS
 * (bench/RESULTS.md, issue 14), and the serving port never needs it. A request with a body, or a
 * head the parser refuses, is answered and the connection closed.
 */
export class SmallServer {
  readonly server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #handler: SmallHandler;

  constructor(handler: SmallHandler) {
    this.#handler = handler;
    // Half-open: a client that ends its side after a request still gets the (maybe later) reply.
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.#serve(socket));
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    return closed;
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#sockets.delete(socket));
    socket.setEncoding('latin1');
    let buffered = '';
    let busy = false;
    let ended = false;
    let closing = false;
    const next = (): void => {
      if (busy || socket.destroyed) return;
      const end = buffered.indexOf(headEnd);
      if (end < 0) {
        if (buffered.length > maxRequestHeadBytes) {
          closing = true;
          this.#finish(socket, { status: 431, body: 'head too large\n' }, true);
        }
        return;
      }
      const head = parseRequestHead(buffered.slice(0, end));
      buffered = buffered.slice(end + headEnd.length);
      if (isHeadError(head)) {
        closing = true;
        this.#finish(socket, { status: head.error, body: `${head.message}\n` }, true);
        return;
      }
      // A body is not read: answered, then the connection ends (no request here takes one).
      const close = !keepsAlive(head) || head.chunked || (head.contentLength !== undefined && head.contentLength > 0);
      busy = true;
      void Promise.resolve()
        .then(() => this.#handler(head))
        .catch((e: unknown) => ({ status: 500, body: `${String(e)}\n` }))
        .then((reply) => {
          busy = false;
          if (socket.destroyed) return;
          socket.write(replyBytes(reply, close, head.method));
          if (close || ended) {
            closing = true;
            socket.end();
          } else {
            socket.resume();
            next();
          }
        });
    };
    socket.on('data', (text: string) => {
      // After a reply that ends the connection, what follows (a body never read) is dropped.
      if (closing) return;
      buffered += text;
      // A client that sends on while its request is answered (pipelining, a slow /wait-for-drain)
      // waits: what is held stays bounded by a head's limit.
      if (busy && buffered.length > maxRequestHeadBytes) socket.pause();
      next();
    });
    socket.on('end', () => {
      ended = true;
      if (!busy) socket.end();
    });
  }

  #finish(socket: Socket, reply: SmallReply, close: boolean): void {
    socket.write(replyBytes(reply, close, 'GET'));
    if (close) socket.end();
  }
}
