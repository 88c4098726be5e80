import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Fetch, fetchTrusting } from '@skiff/http/tls';
import { seedTestPki } from '../../control-plane/src/testing/pki.ts';
import { type Proc, start } from './processes.ts';

const cli = fileURLToPath(new URL('../../control-plane/bin/skiff.js', import.meta.url));
export const testAppPath = fileURLToPath(new URL('../apps/app.mjs', import.meta.url));

export interface Platform {
  proc: Proc;
  dataDir: string;
  apiUrl: string;
  routerPort: number;
  token: string;
  /** `fetch` that trusts the API's CA. */
  fetch: Fetch;
  /** A request through the router to `<service>.default.localhost` (or a tag host). */
  get(host: string, path?: string, init?: RequestInit): Promise<Response>;
  /** A call to the control plane API with the user token. */
  api(method: string, path: string, body?: unknown): Promise<Response>;
}

/**
 * Runs `skiff up` (control plane, router, local backend) with its data in `dataDir`, on `ports` or
 * else on port 0, read back from what `skiff up` prints (the API binds its own; the router's is
 * chosen by `skiff up` as a user's `SKIFF_ROUTER_PORT=0` would be).
 */
export async function startPlatform(
  dataDir = mkdtempSync(join(tmpdir(), 'skiff-up-')),
  ports?: { api: number; router: number },
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Platform> {
  seedTestPki(dataDir);
  // Port 0: `skiff up` chooses the router's port before the control plane writes it into every
  // service's URL (platform.test.ts holds status.url to the port it printed).
  const routerPort = ports?.router ?? 0;
  const proc = await start(
    process.execPath,
    [cli, 'up', ...args],
    {
      SKIFF_DATA_DIR: dataDir,
      SKIFF_API_PORT: String(ports?.api ?? 0),
      SKIFF_ROUTER_PORT: String(routerPort),
      SKIFF_API_TOKEN: 'platform-token',
      ...env,
    },
    /Skiff is up[\s\S]*Router: +http:\/\/127\.0\.0\.1:\d+/,
    // Three processes boot one after another (supervisor, control plane, router): room for a loaded machine.
    60_000,
  );
  const said = proc.output().slice(proc.output().lastIndexOf('Skiff is up'));
  const api = Number(/API: +https?:\/\/[^\s]+:(\d+)/.exec(said)?.[1]);
  const router = Number(/Router: +http:\/\/127\.0\.0\.1:(\d+)/.exec(said)?.[1]);
  const apiUrl = `https://127.0.0.1:${api}`;
  const apiFetch = fetchTrusting(readFileSync(join(dataDir, 'ca.crt'), 'utf8'));
  return {
    proc,
    dataDir,
    apiUrl,
    routerPort: router,
    token: 'platform-token',
    fetch: apiFetch,
    get: (host, path = '/', init = {}) => viaRouter(router, host, path, init),
    api: (method, path, body) =>
      apiFetch(`${apiUrl}${path}`, {
        method,
        headers: { authorization: 'Bearer platform-token', 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** A request to the router with a chosen Host header (fetch would not let the test set it). */
function viaRouter(port: number, host: string, path: string, init: RequestInit): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers = { ...(init.headers as Record<string, string>), host };
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') out.set(k, v);
        const status = res.statusCode ?? 0;
        resolve(
          new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: out }),
        );
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body as string | undefined);
  });
}

export const servicePath = (name = '') =>
  `/apis/serving.knative.dev/v1/namespaces/default/services${name ? `/${name}` : ''}`;

/** A service running the test app, with extra template spec fields. */
export function appService(
  name: string,
  spec: Record<string, unknown> = {},
  env: Record<string, string> = {},
  annotations?: Record<string, string>,
) {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name },
    spec: {
      template: {
        ...(annotations ? { metadata: { annotations } } : {}),
        spec: {
          containers: [
            {
              command: [process.execPath, testAppPath],
              env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
            },
          ],
          ...spec,
        },
      },
    },
  };
}

/**
 * Waits until the service is Ready at its current generation and the router serves it (by a
 * request to `/healthz`; `probe: false` skips that request, for a revision that must stay at zero).
 */
export async function ready(p: Platform, name: string, timeoutMs = 30_000, probe = true): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = await (await p.api('GET', servicePath(name))).json();
    const cond = last.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');
    if (last.status?.observedGeneration === last.metadata?.generation && cond?.status === 'True') {
      // Routers hear of it within moments of the status (the snapshot is published first).
      if (!probe) return last;
      while (Date.now() < deadline && (await p.get(`${name}.default.localhost`, '/healthz')).status === 404) {
        await new Promise((r) => setTimeout(r, 10));
      }
      return last;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`service ${name} not ready: ${JSON.stringify(last?.status?.conditions)}`);
}
