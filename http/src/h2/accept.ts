import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** What an HTTP/2 connection over cleartext starts with (RFC 9113 §3.4, "prior knowledge"). */
const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Whether the first bytes of a connection are (the start of) the HTTP/2 preface. */
export function startsHttp2(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, preface.length);
  return n >= 3 && chunk.compare(preface, 0, n, 0, n) === 0;
}

/**
 * Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one port: the first bytes of each
 * connection decide. HTTP/1.1 keeps the socket itself (the bytes read go back with `unshift`);
 * HTTP/2 gets a stream that replays them, since `node:http2` reads its socket's handle directly
 * and would miss bytes JavaScript has read already.
 */
export function acceptEither(socket: Socket, http1: (socket: Socket) => void, http2: (stream: Duplex) => void): void {
  socket.once('data', (chunk: Buffer) => {
    if (!startsHttp2(chunk)) {
      socket.pause();
      socket.unshift(chunk);
      http1(socket);
      socket.resume();
      return;
    }
    const stream = new Duplex({
      read() {
        socket.resume();
      },
      write(data: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
        socket.write(data, encoding, callback);
      },
      final(callback: () => void) {
        socket.end();
        callback();
      },
      destroy(error: Error | null, callback: (error: Error | null) => void) {
        socket.destroy();
        callback(error);
      },
    });
    stream.push(chunk);
    socket.on('data', (data: Buffer) => {
      if (!stream.push(data)) socket.pause();
    });
    socket.on('end', () => stream.push(null));
    socket.on('close', () => stream.destroy());
    socket.on('error', noop);
    Object.assign(stream, { remoteAddress: socket.remoteAddress });
    http2(stream);
  });
}

function noop(): void {}
