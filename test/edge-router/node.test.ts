import { routerContract } from './contract.ts';

// The Node server sees client disconnects on its sockets and ECONNREFUSED on connect.
routerContract('node', {
  seesClientGone: ['close', 'reset'],
  seesConnectRefused: true,
  passesHost: true,
  http2: { acceptsH2c: true, reachesH2c: true, grpc: true, passesAuthority: true },
});
