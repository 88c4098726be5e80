import { routerContract } from './contract.ts';

// workerd aborts `request.signal` (compatibility flag `enable_request_signal`) only when the client
// resets its connection: it watches the socket for a hang-up, and a FIN is a half-close that
// HTTP/1.1 allows. Its fetch reports a refused connection as "Network connection lost" like any
// other lost one; the router learns of a refusal from a socket it opens before sending (connect-probe.ts).
// workerd serves HTTP/1.1 here and its fetch speaks HTTP/1.1 to endpoints: no h2c, no gRPC.
routerContract('workerd', {
  seesClientGone: ['reset'],
  seesConnectRefused: true,
  passesHost: false,
  http2: { acceptsH2c: false, reachesH2c: false, grpc: false, passesAuthority: false },
});
