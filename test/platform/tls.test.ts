import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, ready, startPlatform } from '../helpers/platform.ts';
import { freePort, stopAll } from '../helpers/processes.ts';

const cli = fileURLToPath(new URL('../../control-plane/bin/skiff.js', import.meta.url));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

// `skiff up --tls`: HTTPS beside HTTP on SKIFF_ROUTER_TLS_PORT, certificates for service hosts from
// the data dir's CA (the API's), which `skiff ca` shows.
describe('skiff up --tls', () => {
  let p: Platform;
  let tlsPort: number;

  beforeAll(async () => {
    tlsPort = await freePort();
    p = await startPlatform(undefined, undefined, ['--tls'], { SKIFF_ROUTER_TLS_PORT: String(tlsPort) });
    await ready(p, 'hello', 60_000);
  }, 90_000);

  afterAll(async () => {
    await stopAll();
  });

  it('serves https://hello.default.localhost trusted with --cacert <data-dir>/ca.crt, and says so', async () => {
    expect(p.proc.output()).toContain(`HTTPS:      https://<name>.<namespace>.localhost:${tlsPort}`);
    const ca = join(p.dataDir, 'ca.crt');
    const url = `https://hello.default.localhost:${tlsPort}`;
    const ok = await run('curl', [
      '-sS',
      '--cacert',
      ca,
      '--resolve',
      `hello.default.localhost:${tlsPort}:127.0.0.1`,
      url,
    ]);
    expect(ok).toEqual({ code: 0, out: 'Hello World!\n' });
    // Without the CA, curl refuses the certificate: it is the local CA's, not a public one.
    const untrusted = await run('curl', ['-sS', '--resolve', `hello.default.localhost:${tlsPort}:127.0.0.1`, url]);
    expect(untrusted.code).toBe(60);
    // Plain HTTP still serves beside it.
    expect(await (await p.get('hello.default.localhost')).text()).toBe('Hello World!\n');
    // A host the router does not serve gets no certificate at all (the CA signs only served hosts).
    const other = await run('curl', [
      '-sS',
      '--cacert',
      ca,
      '--resolve',
      `nope.default.localhost:${tlsPort}:127.0.0.1`,
      `https://nope.default.localhost:${tlsPort}`,
    ]);
    expect(other.code).not.toBe(0);
  });

  it('skiff ca prints where the CA is and how to trust it', async () => {
    const env = { SKIFF_DATA_DIR: p.dataDir, SKIFF_ROUTER_TLS_PORT: String(tlsPort) };
    const path = await run(process.execPath, [cli, 'ca', '--path'], env);
    expect(path).toEqual({ code: 0, out: `${join(p.dataDir, 'ca.crt')}\n` });
    const text = await run(process.execPath, [cli, 'ca'], env);
    expect(text.code).toBe(0);
    const cert = new X509Certificate(readFileSync(join(p.dataDir, 'ca.crt')));
    expect(text.out).toContain(cert.fingerprint256);
    expect(text.out).toContain(`curl --cacert ${join(p.dataDir, 'ca.crt')} https://hello.default.localhost:${tlsPort}`);
    const missing = await run(process.execPath, [cli, 'ca'], { SKIFF_DATA_DIR: '/nonexistent/skiff' });
    expect(missing.code).toBe(1);
    expect(missing.out).toContain('no local CA at /nonexistent/skiff/ca.crt');
  });
});
