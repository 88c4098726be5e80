import { MemoryBackend } from './backends/memory/memory-backend.ts';
import { startControlPlane } from './server.ts';

// skiff-control-plane: the control plane on its own, configured by environment.
//   SKIFF_DATA_DIR (.skiff), SKIFF_API_PORT (8090), SKIFF_DOMAIN (localhost), SKIFF_ROUTER_PORT (8080),
//   SKIFF_BACKEND (memory: replicas are records only; the local and Kubernetes backends come later),
//   SKIFF_MEMORY_READY_MS (memory backend: time until a replica is ready), SKIFF_API_TOKEN, SKIFF_ROUTER_TOKEN.
const env = process.env;
const backendName = env.SKIFF_BACKEND ?? 'memory';
if (backendName !== 'memory') {
  console.error(`skiff-control-plane: SKIFF_BACKEND=${backendName} is not available; supported: memory`);
  process.exit(2);
}
const port = Number(env.SKIFF_API_PORT ?? 8090);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`skiff-control-plane: SKIFF_API_PORT must be a port number, got ${JSON.stringify(env.SKIFF_API_PORT)}`);
  process.exit(2);
}
const cp = await startControlPlane({
  dataDir: env.SKIFF_DATA_DIR ?? '.skiff',
  backend: new MemoryBackend({ readyAfterMs: Number(env.SKIFF_MEMORY_READY_MS ?? 50) }),
  apiPort: port,
  domain: env.SKIFF_DOMAIN ?? 'localhost',
  routerPort: Number(env.SKIFF_ROUTER_PORT ?? 8080),
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cp.close().then(() => process.exit(0));
  });
}
