import { routerContract } from './contract.ts';

// Deno aborts `request.signal` when the client goes away and names a refused connect in the error.
// Deno.serve takes h2c with prior knowledge and its fetch can speak h2c (an HTTP/2-only client), but
// neither its fetch nor its Response carries trailers: no gRPC. Over h2c its fetch takes :authority
// from the URL (`allowHost` is for HTTP/1.1's Host): the client's host is in X-Forwarded-Host.
routerContract('deno', {
  seesClientGone: ['close', 'reset'],
  seesConnectRefused: true,
  passesHost: true,
  http2: { acceptsH2c: true, reachesH2c: true, grpc: false, passesAuthority: false },
});
