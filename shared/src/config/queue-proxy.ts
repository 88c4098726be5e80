/**
 * Node and V8 flags the queue-proxy runs with, on node's command line before the script (the local
 * backend's command; the image's CMD says the same, which `queue-proxy/src/deploy.test.ts`
 * checks). On the command line, not in `NODE_OPTIONS`: Node refuses most V8 flags there, and a
 * child the queue-proxy starts (an exec readiness probe) would inherit them.
 *
 * - `--max-semi-space-size=1`: the young generation's semi-spaces capped at 1 MiB. Under load V8
 *   grows them to 16 MiB each (up to 48 MiB of young generation), which was most of the sidecar's
 *   memory: peak RSS under `wrk -c32` 90–110 MiB with V8's default, about 53 with this.
 * - `--no-concurrent-recompilation`: TurboFan compiles hot functions on the main thread instead
 *   of a worker thread, whose zone memory stayed in that thread's malloc arena: 2.0 MiB less peak
 *   RSS (51.6 → 49.6 MiB), same throughput once warm (compiling a few hot functions is a one-off).
 *
 * About 39 of the remaining ~50 MiB are the node binary's own pages and a bare node process's
 * heap (`bench/data-plane.mjs` measures the queue-proxy as deployed, with this).
 */
export const queueProxyNodeFlags: readonly string[] = ['--max-semi-space-size=1', '--no-concurrent-recompilation'];
