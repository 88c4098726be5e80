/**
 * V8 options the Node router runs with, as `NODE_OPTIONS` (`skiff up` sets it; the router image
 * sets the same): the young generation's semi-spaces capped at 1 MiB, as the queue-proxy's. Under
 * load V8 grows them to 16 MiB each, and more of each second's garbage is promoted to the old
 * generation, whose next collection V8 schedules in proportion to what lives there, so the
 * routing table's size multiplied the garbage kept: with 10,000 services peak RSS under
 * `wrk -c50` was 212 MiB with V8's default and 119 MiB with this (87 and 102 with 10 services;
 * `bench/scale.mjs --only router [--router-node-options …]`, bench/RESULTS.md).
 */
export const routerNodeOptions = '--max-semi-space-size=1';
