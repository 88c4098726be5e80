import { routerContract } from './contract.ts';

// Deno aborts `request.signal` when the client goes away and names a refused connect in the error.
routerContract('deno', { seesClientGone: ['close', 'reset'], seesConnectRefused: true, passesHost: true });
