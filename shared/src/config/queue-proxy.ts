/**
 * V8 options the queue-proxy runs with, as `NODE_OPTIONS` (the local backend sets it; the
 * queue-proxy image sets the same): the young generation's semi-spaces capped at 1 MiB. Under load
 * V8 grows them to 16 MiB each (up to 48 MiB of young generation), which was most of the sidecar's
 * memory: peak RSS under `wrk -c32` 90–110 MiB with V8's default, about 53 with this, of which
 * about 40 is the node binary's own pages (`bench/data-plane.mjs` measures both).
 */
export const queueProxyNodeOptions = '--max-semi-space-size=1';
