// `node:http2` and `node:http` are loaded when a connection first needs them, not when this
// package is imported: a queue-proxy in front of an HTTP/1.1 app never uses them on its data
// path, and loading `node:http2` alone adds about 2.8 MiB to a process's RSS (bench/RESULTS.md).

/** `node:http2`, loaded on first use. */
export function http2(): typeof import('node:http2') {
  return process.getBuiltinModule('node:http2');
}

/** `node:http`, loaded on first use. */
export function http(): typeof import('node:http') {
  return process.getBuiltinModule('node:http');
}

/** The HTTP/2 error codes (RFC 9113 §7) and frame flag this package uses, without loading `node:http2`. */
export const h2Codes = {
  noError: 0,
  internalError: 2,
  refusedStream: 7,
  cancel: 8,
  flagEndStream: 1,
} as const;
