import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** What an HTTP/2 connection over cleartext starts with (RFC 9113 §3.4, "prior knowledge"). */
export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const frameSettings = 0x4;
const flagAck = 0x1;

/** Whether the first bytes of a connection are (the start of) the HTTP/2 preface. */
export function startsHttp2(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, preface.length);
  return n >= 3 && chunk.compare(preface, 0, n, 0, n) === 0;
}

/**
 * Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one port: the first bytes of each
 * connection decide, and go back into the socket with `unshift` for either side. `node:http2`
 * takes the socket itself (it reads what is already buffered before it attaches to the socket's
 * handle): a wrapping JavaScript stream would put every frame through `JSStreamSocket`, which
 * cost this hop most of its gRPC throughput (bench/data-plane.mjs --only grpc).
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

/**
 * The socket as a stream for `node:http2` when the connection does not start as HTTP/2 on the
 * wire: `opening` (bytes this hop makes up) comes first, then what the socket reads. After an
 * `Upgrade: h2c` (`upgraded`), `opening` stands for the client's start and the client's own
 * preface, when it comes (after bytes already `buffered`), is checked and dropped. Slower than
 * the socket itself (every frame passes through JavaScript), so only upgraded connections take it.
 */
export function socketStream(socket: Socket, opening: Buffer, upgraded?: { buffered: Buffer | undefined }): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(data: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
      if (unacked === undefined) socket.write(data, encoding, callback);
      else socket.write(withoutFirstSettingsAck(data), callback);
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
  // The client counts the 101 as the acknowledgement of its HTTP2-Settings (RFC 7540 §3.2.1) and
  // takes another as a protocol error (curl: "SETTINGS: unexpected ACK"); `node:http2` acknowledges
  // the SETTINGS frame that stood for them, so that first ACK is held back from the client.
  let unacked: Buffer | undefined = upgraded === undefined ? undefined : Buffer.alloc(0);
  const withoutFirstSettingsAck = (data: Buffer): Buffer => {
    const out = Buffer.concat([unacked as Buffer, data]);
    let at = 0;
    while (out.length - at >= 9) {
      const end = at + 9 + out.readUIntBE(at, 3);
      if (out[at + 3] === frameSettings && ((out[at + 4] as number) & flagAck) !== 0) {
        unacked = undefined;
        return Buffer.concat([out.subarray(0, at), out.subarray(end)]);
      }
      if (end > out.length) break;
      at = end;
    }
    // Whole frames go out; a frame cut short waits for the rest of it.
    unacked = out.subarray(at);
    return out.subarray(0, at);
  };
  stream.push(opening);
  let unchecked: Buffer | undefined = upgraded === undefined ? undefined : Buffer.alloc(0);
  let refused = false;
  const take = (data: Buffer) => {
    if (refused) return;
    let bytes = data;
    if (unchecked !== undefined) {
      const seen = Buffer.concat([unchecked, data]);
      const n = Math.min(seen.length, preface.length);
      if (seen.compare(preface, 0, n, 0, n) !== 0) {
        // Not HTTP/2 after all: no more is read, and the socket closes once what was written is out.
        refused = true;
        socket.end();
        return;
      }
      if (seen.length < preface.length) {
        unchecked = seen;
        return;
      }
      unchecked = undefined;
      bytes = seen.subarray(preface.length);
      if (bytes.length === 0) return;
    }
    if (!stream.push(bytes)) socket.pause();
  };
  if (upgraded?.buffered !== undefined) take(upgraded.buffered);
  socket.on('data', take);
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  socket.on('error', noop);
  Object.assign(stream, { remoteAddress: socket.remoteAddress });
  socket.resume();
  return stream;
}

function noop(): void {}
