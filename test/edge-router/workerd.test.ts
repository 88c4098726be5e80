import { routerContract } from './contract.ts';

// Local workerd (wrangler dev) never aborts `request.signal` when a client disconnects, and
// reports a refused subrequest as "Network connection lost" like any other lost connection, so
// the router can neither free a held place early nor retry safely there.
routerContract('workerd', { seesClientAbort: false, seesConnectRefused: false });
