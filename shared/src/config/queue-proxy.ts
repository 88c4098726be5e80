/**
 * V8 options the queue-proxy runs with, as `NODE_OPTIONS` (the local backend sets it; the
 * queue-proxy image sets the same): the young generation's semi-spaces capped at 1 MiB. Under load
 * V8 grows them to 16 MiB each (up to 48 MiB of young generation), which was most of the sidecar's
 * memory: peak RSS under `wrk -c32` 90–110 MiB with V8's default, about 60 with this, of which
 * 40 is Node itself and 5 its `http`/`http2` modules (`bench/data-plane.mjs` measures both).
 */
export const queueProxyNodeOptions = '--max-semi-space-size=1';
