// Runs a LocalBackend with one replica of the test app, prints the replica's process ids as JSON
// once it is ready, then waits to be killed (the orphan test kills it with SIGKILL).
import { fileURLToPath } from 'node:url';
import { LocalBackend } from '../../control-plane/src/backends/local/local-backend.ts';

const app = fileURLToPath(new URL('../apps/app.mjs', import.meta.url));
const backend = new LocalBackend();
await backend.ensure(
  {
    namespace: 'default',
    service: 'orphan',
    configuration: 'orphan',
    revision: 'orphan-00001',
    uid: 'u',
    spec: { containers: [{ command: [process.execPath, app] }] },
    labels: {},
    annotations: {},
  },
  1,
);
const deadline = Date.now() + 20_000;
while (backend.observe('default', 'orphan-00001').ready.length === 0 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 25));
}
process.stdout.write(`${JSON.stringify({ pids: backend.pids('default', 'orphan-00001') })}\n`);
setInterval(() => {}, 1000);
