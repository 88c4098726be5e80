// Runs the router Worker in local workerd through Miniflare, configured from the root wrangler.toml,
// for the contract suite: `node --import tsx test/edge-router/workerd-router.ts` with the router's
// settings (`SKIFF_*`), `PORT` and `SKIFF_ROUTER_HOST` in the environment and a scratch directory
// (for the bundle and the Durable Objects' storage) as its argument.
//
// Not `wrangler dev`: it puts its own ProxyWorker (a Durable Object with compatibility date
// 2023-12-18 and no `enable_request_signal`) in front of the Worker and forwards to it with a fetch
// that outlives the client, so a client that goes away is never seen by the router. Miniflare alone
// serves the Worker on workerd's own socket, as Cloudflare's edge does in front of a deployed one.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { repoRoot } from '../helpers/processes.ts';

const config = join(repoRoot, 'wrangler.toml');
const work = process.argv[2];
if (work === undefined) {
  console.error('usage: workerd-router.ts <scratch directory>');
  process.exit(2);
}
const bundle = join(work, 'bundle');

// Bundled by wrangler itself, as `wrangler deploy` would upload it.
const built = spawnSync(
  process.execPath,
  [
    join(repoRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    'deploy',
    '--dry-run',
    '--config',
    config,
    '--outdir',
    bundle,
  ],
  { env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' }, encoding: 'utf8' },
);
if (built.status !== 0) {
  console.error(`wrangler could not bundle the worker:\n${built.stdout}${built.stderr}`);
  process.exit(1);
}

const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
const vars: Record<string, string> = {};
for (const [key, value] of Object.entries(process.env)) {
  if (key.startsWith('SKIFF_') && value !== undefined) vars[key] = value;
}
const host = process.env.SKIFF_ROUTER_HOST ?? '127.0.0.1';
const mf = new Miniflare({
  ...workerOptions,
  name: 'skiff-edge-router',
  modulesRoot: bundle,
  modules: [{ type: 'ESModule', path: join(bundle, 'worker.js') }],
  bindings: { ...workerOptions.bindings, ...vars },
  host,
  port: Number(process.env.PORT ?? 8787),
  durableObjectsPersist: join(work, 'durable-objects'),
  // Offline: no fetch of the `request.cf` placeholder from workers.cloudflare.com.
  cf: false,
});
const url = await mf.ready;
console.log(`Ready on ${url.href}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void mf.dispose().finally(() => process.exit(0));
  });
}
