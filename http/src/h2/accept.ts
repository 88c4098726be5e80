import type { Socket } from 'node:net';

/** What an HTTP/2 connection over cleartext starts with (RFC 9113 §3.4, "prior knowledge"). */
export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Whether the first bytes of a connection are (the start of) the HTTP/2 preface. */
export function startsHttp2(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, preface.length);
  return n >= 3 && chunk.compare(preface, 0, n, 0, n) === 0;
}

/**
 * Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one port: the first bytes of each
 * connection decide, and go back into the socket with `unshift` for either side (`H2Forwarder`
 * takes the socket itself, and reads what was put back first).
 */
export function acceptEither(socket: Socket, http1: (socket: Socket) => void, http2: (socket: Socket) => void): void {
  socket.once('data', (chunk: Buffer) => {
    socket.pause();
    socket.unshift(chunk);
    if (!startsHttp2(chunk)) {
      http1(socket);
      socket.resume();
      return;
    }
    http2(socket);
  });
}
