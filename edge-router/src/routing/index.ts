// The routing table and the router's copy of the snapshot, for the control plane's tests and benches.
export { RouterCore } from '../core.ts';
export { type ControlPlane, HttpControlPlane } from '../snapshot/control-plane.ts';
export { type Applied, RoutingState } from '../snapshot/state.ts';
export { buildRoutingTable, RoutingTable, resolveRevision, updateRoutingTable } from './table.ts';
