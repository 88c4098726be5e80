// `node:http` is loaded when a connection first needs it (an HTTP/2 stream to a revision that
// speaks HTTP/1.1), not when this package is imported: a queue-proxy never uses it on its data
// path. `node:http2` is not used on the data path at all (HTTP/2 is `src/h2/`; loading it alone
// added about 2.8 MiB to a process's RSS, bench/RESULTS.md).

/** `node:http`, loaded on first use. */
export function http(): typeof import('node:http') {
  return process.getBuiltinModule('node:http');
}
