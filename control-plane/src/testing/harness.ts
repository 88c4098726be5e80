import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchTrusting } from '@skiff/http/tls';
import { MemoryBackend, type MemoryBackendOptions } from '../backends/memory/memory-backend.ts';
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from '../server.ts';
import { seedTestPki } from './pki.ts';

export interface Harness {
  cp: ControlPlane;
  backend: MemoryBackend;
  dataDir: string;
  /** `fetch` that trusts the API's CA. */
  fetch: (input: string, init?: RequestInit) => Promise<Response>;
  /** A request to the API with the user token (JSON body unless a string is given). */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Waits until the reconciler has nothing left to do. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export const svcPath = (name = '', ns = 'default') =>
  `/apis/serving.knative.dev/v1/namespaces/${ns}/services${name ? `/${name}` : ''}`;

/** A control plane on a free loopback port with a fresh data dir and the memory backend. */
export async function harness(
  opts: MemoryBackendOptions = {},
  dataDir?: string,
  cpOptions: Partial<ControlPlaneOptions> = {},
): Promise<Harness> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'skiff-cp-'));
  const backend = new MemoryBackend(opts);
  seedTestPki(dir);
  const cp = await startControlPlane({
    dataDir: dir,
    backend,
    apiPort: 0,
    userToken: 'user-token',
    routerToken: 'router-token',
    log: () => {},
    ...cpOptions,
  });
  const apiFetch = fetchTrusting(cp.ca);
  return {
    cp,
    backend,
    dataDir: dir,
    fetch: apiFetch,
    api(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { authorization: 'Bearer user-token', ...headers } };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      return apiFetch(`${cp.url}${path}`, init);
    },
    async settle() {
      // The queue folds work that arrives while it runs; wait until a pass finds nothing new.
      for (let i = 0; i < 3; i++) {
        await cp.reconciler.settled();
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await cp.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function service(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name },
    spec: {
      template: {
        spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go', env: [{ name: 'TARGET', value: 'v1' }] }] },
      },
    },
    ...extra,
  };
}
