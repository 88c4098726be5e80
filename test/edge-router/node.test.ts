import { routerContract } from './contract.ts';

// The Node server sees client disconnects on its sockets and ECONNREFUSED on connect.
routerContract('node', { seesClientAbort: true, seesConnectRefused: true });
