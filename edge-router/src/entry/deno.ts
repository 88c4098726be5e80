// The router on Deno: the web-standard app behind `Deno.serve`.
//   deno run --allow-net --allow-env --allow-read edge-router/src/entry/deno.ts
import { createApp } from '../app.ts';
import { ConfigError, parseRouterConfig } from '../config.ts';
import { LocalGate } from '../hold/gate.ts';
import { runCore } from '../run.ts';

/** The few Deno APIs used here (the package type-checks with web-standard types only). */
declare const Deno: {
  env: { toObject(): Record<string, string> };
  exit(code: number): never;
  createHttpClient(options: { allowHost?: boolean; caCerts?: string[]; http1?: boolean; http2?: boolean }): object;
  readTextFileSync(path: string): string;
  serve(
    options: { port: number; hostname: string; onListen?: (address: { port: number }) => void },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): unknown;
};

const env = Deno.env.toObject();
const log = { info: (m: string) => console.log(m), error: (m: string) => console.error(m) };
let config: ReturnType<typeof parseRouterConfig>;
try {
  config = parseRouterConfig(env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  log.error(error.message);
  Deno.exit(2);
}
// The control plane's CA (the data dir's ca.crt, or the cluster's), when it is not a public one.
const caFile = env.SKIFF_CONTROL_PLANE_CA_FILE;
const controlPlaneClient = caFile ? Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(caFile)] }) : undefined;
const { core } = runCore(
  config,
  log,
  controlPlaneClient
    ? (input, init) => fetch(input, { ...init, client: controlPlaneClient } as RequestInit)
    : undefined,
);
const client = Deno.createHttpClient({ allowHost: true });
// HTTP/2 only, on a cleartext URL: prior knowledge (h2c), for revisions whose port is named h2c.
const h2cClient = Deno.createHttpClient({ allowHost: true, http1: false, http2: true });
const app = createApp({
  config,
  resolve: (host, tag) => core.resolve(host, tag),
  gate: new LocalGate(core),
  // `allowHost`: the app sees the client's Host, as behind the Node router (Deno's fetch otherwise
  // replaces it with the endpoint's address).
  fetch: (input, init) => fetch(input, { ...init, client } as RequestInit),
  h2cFetch: (input, init) => fetch(input, { ...init, client: h2cClient } as RequestInit),
  // Deno reports a refused connection as "client error (Connect)" in the error's cause.
  isConnectRefused: (error) => /\(Connect\)|Connection refused/i.test(String((error as { cause?: unknown }).cause)),
  clientAddress: (c) => (c.env as { remoteAddr?: { hostname: string } } | undefined)?.remoteAddr?.hostname,
});
Deno.serve(
  {
    port: Number(env.PORT ?? 8080),
    hostname: env.SKIFF_ROUTER_HOST ?? '0.0.0.0',
    onListen: ({ port }) => log.info(`edge-router (deno) serving :${port}`),
  },
  (request, info) => app.fetch(request, { remoteAddr: info.remoteAddr }),
);
