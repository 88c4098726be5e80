import { Socket, type SocketConstructorOpts } from 'node:net';

/**
 * The one buffer that client connections taken over by `adoptClient` read into (`onread`), as the
 * upstream connections read into theirs (pool.ts). Node's stream path allocates a 64 KiB buffer
 * per read, shrinks it, wraps it as a Buffer and passes it through the Readable machinery to a
 * 'data' event; reading into one buffer skips all of that. A bare pass-through proxy ran 27k
 * instructions per request on `net` streams and 15.5k with `onread` on both sides, half of it
 * on each side (bench/RESULTS.md, "router's CPU per request", issue 14). Reads are handled one at
 * a time on the event loop, so sharing it is safe as long as no reader keeps a view past its
 * callback: `isShared` tells a reader which bytes it must copy.
 */
const clientReadBuffer = Buffer.allocUnsafe(64 * 1024);

/** Whether `bytes` is a view of the shared client read buffer (copy it before keeping or writing it). */
export function isShared(bytes: Uint8Array): boolean {
  return bytes.buffer === clientReadBuffer.buffer;
}

/** What `adoptClient` relies on inside `node:net` (none of it public API). */
interface NetInternals {
  /** The accepted connection's TCP handle. */
  _handle?: { useUserBuffer?: unknown } | null;
  /** The server that counts this connection (`server.close()` waits for its count to reach 0). */
  _server?: unknown;
  _readableState?: { ended?: boolean };
}

/**
 * Moves an accepted plain TCP connection to a new `Socket` that reads with `onread` into the
 * shared buffer: `net.Server` has no `onread` option, so the accepted socket's handle is wrapped
 * again (`new Socket({ handle, onread })`). The bytes the old socket had buffered (what
 * `acceptEither` read and put back) are returned as `buffered`; `read(bytes)` is then called
 * with each read's length (the bytes are `clientReadBuffer.subarray(0, bytes)`).
 *
 * This relies on three internals of `node:net` (the socket's `_handle`, its `_server`, which
 * counts the server's connections, and its readable state): when any is not as expected (another
 * Node version, a TLS socket, a connection already ended), it returns undefined and leaves the
 * socket as it was, to be read with 'data' events — slower, never wrong. Checked on Node 20; the
 * router's tests run through this path.
 */
export function adoptClient(
  socket: Socket,
  read: (bytes: number) => void,
): { socket: Socket; buffered: Buffer | undefined; view(bytes: number): Buffer } | undefined {
  const internal = socket as unknown as NetInternals;
  const handle = internal._handle;
  if (
    socket.destroyed ||
    handle === null ||
    typeof handle !== 'object' ||
    typeof handle.useUserBuffer !== 'function' ||
    !('_server' in internal) ||
    internal._readableState?.ended !== false
  ) {
    return undefined;
  }
  // What the old socket holds (acceptEither's first chunk, put back with unshift): ours to copy.
  const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  let taken: Socket;
  try {
    taken = new Socket({
      handle,
      allowHalfOpen: socket.allowHalfOpen,
      readable: true,
      writable: true,
      onread: {
        buffer: clientReadBuffer,
        callback: (bytes: number) => {
          read(bytes);
          // The reader pauses the socket itself when it must wait.
          return true;
        },
      },
    } as SocketConstructorOpts);
  } catch {
    if (buffered !== null) socket.unshift(buffered);
    return undefined;
  }
  const next = taken as unknown as NetInternals;
  next._server = internal._server;
  internal._server = null;
  // The old socket must never close the handle it no longer owns.
  internal._handle = null;
  return {
    socket: taken,
    buffered: buffered === null ? undefined : buffered,
    view: (bytes) => clientReadBuffer.subarray(0, bytes),
  };
}
