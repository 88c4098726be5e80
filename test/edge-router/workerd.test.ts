import { routerContract } from './contract.ts';

// workerd aborts `request.signal` (compatibility flag `enable_request_signal`) only when the client
// resets its connection: it watches the socket for a hang-up, and a FIN is a half-close that
// HTTP/1.1 allows. Its fetch reports a refused connection as "Network connection lost" like any
// other lost one; the router learns of a refusal from a socket it opens before sending (connect-probe.ts).
routerContract('workerd', { seesClientGone: ['reset'], seesConnectRefused: true, passesHost: false });
