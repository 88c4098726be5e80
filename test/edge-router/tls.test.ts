import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { createCa, issueServingCertificate, type KeyPair } from '@skiff/http/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { grpc, TestGrpcClient } from '../helpers/grpc.ts';
import { get } from '../helpers/http.ts';
import { type App, freePort, start, startApp, stopAll, waitFor } from '../helpers/processes.ts';
import { revision, route } from './contract.ts';

/** Runs a command, never throwing: its exit code and output. */
function run(cmd: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
    child.stdin?.end(input);
  });
}

/** The certificate the router presents for `servername`, as a client sees it (node:tls, no verification). */
function presented(port: number, servername: string): Promise<X509Certificate | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.destroy();
      resolve(raw ?? 'no certificate');
    });
    socket.on('error', (e) => resolve(e.message));
  });
}

// The Node router's TLS listener as clients see it: a real router process, certificates from the
// routing snapshot (as the control plane sends TLS Secrets' and ACME's), openssl and curl as clients.
describe('edge router on node: TLS', () => {
  const cp = new ControlPlaneStub();
  const dir = mkdtempSync(join(tmpdir(), 'skiff-router-tls-'));
  const caFile = join(dir, 'ca.crt');
  let ca: KeyPair;
  let certA: KeyPair;
  let certB: KeyPair;
  let router: RouterProc;
  let tlsPort: number;
  let app: App;
  const hostA = 'shop.example.test';
  const hostB = 'blog.example.test';
  /** A host whose revision speaks HTTP/2 (its port named h2c): a gRPC app. */
  const hostRpc = 'rpc.example.test';
  let certRpc: KeyPair;
  let grpcPort: number;

  const routes = (extra: { httpA?: 'enabled' | 'redirected' | 'disabled' } = {}) => ({
    routes: [
      route('shop', [{ revisionName: 'shop-00001', percent: 100 }], {
        hosts: [hostA],
        ...(extra.httpA ? { httpProtocol: extra.httpA } : {}),
      }),
      route('blog', [{ revisionName: 'blog-00001', percent: 100 }], { hosts: [hostB] }),
      route('rpc', [{ revisionName: 'rpc-00001', percent: 100 }], { hosts: [hostRpc] }),
    ],
    revisions: [
      revision('shop-00001', [app.url]),
      revision('blog-00001', [app.url]),
      revision('rpc-00001', [`http://127.0.0.1:${grpcPort}`], { protocol: 'h2c' }),
    ],
  });

  beforeAll(async () => {
    ca = createCa('skiff-test-ca');
    writeFileSync(caFile, ca.cert);
    certA = issueServingCertificate(ca, [hostA]);
    certB = issueServingCertificate(ca, [hostB]);
    certRpc = issueServingCertificate(ca, [hostRpc]);
    app = await startApp({ TARGET: 'tls' });
    grpcPort = await freePort();
    const grpcApp = fileURLToPath(new URL('../apps/grpc.mjs', import.meta.url));
    await start(process.execPath, [grpcApp], { PORT: String(grpcPort) }, /grpc app listening/);
    await cp.start();
    cp.publish({
      ...routes(),
      certificates: [
        { hosts: [hostA], ...certA },
        { hosts: [hostB], ...certB },
        { hosts: [hostRpc], ...certRpc },
      ],
    });
    tlsPort = await freePort();
    router = await startRouter('node', {
      SKIFF_CONTROL_PLANE_URL: cp.url,
      SKIFF_ROUTER_TOKEN: cp.token,
      SKIFF_ROUTER_TLS_PORT: String(tlsPort),
    });
    await waitFor(() => /serving TLS/.test(router.output()), 10_000, 'the TLS listener');
  });

  afterAll(async () => {
    await cp.stop();
    await stopRouters();
    await stopAll();
  });

  const curl = (host: string, path = '/', extra: string[] = []) =>
    run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      caFile,
      '--resolve',
      `${host}:${tlsPort}:127.0.0.1`,
      ...extra,
      `https://${host}:${tlsPort}${path}`,
    ]);

  it('serves each host with its own certificate, picked by SNI, verified by curl against the CA', async () => {
    const a = await curl(hostA);
    expect(a).toEqual({ code: 0, out: 'Hello tls!\n' });
    for (const [host, cert] of [
      [hostA, certA],
      [hostB, certB],
    ] as const) {
      const s = await run(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${tlsPort}`,
          '-servername',
          host,
          '-CAfile',
          caFile,
          '-verify_return_error',
        ],
        '',
      );
      expect(s.out).toMatch(new RegExp(`subject=\\s*CN\\s*=\\s*${host.replaceAll('.', '\\.')}`));
      expect(s.out).toContain('Verify return code: 0 (ok)');
      const seen = await presented(tlsPort, host);
      expect(typeof seen === 'string' ? seen : seen.fingerprint256).toBe(new X509Certificate(cert.cert).fingerprint256);
    }
  });

  it('refuses the handshake for a host it has no certificate for, and never shows another host’s', async () => {
    const seen = await presented(tlsPort, 'other.example.test');
    expect(typeof seen).toBe('string');
    const c = await curl('other.example.test');
    expect(c.code).not.toBe(0);
    expect(c.out).not.toContain('Hello');
  });

  it('speaks TLS 1.2 and 1.3 only: a TLS 1.0 or 1.1 client is refused', async () => {
    for (const [flag, name] of [
      ['-tls1_2', 'TLSv1.2'],
      ['-tls1_3', 'TLSv1.3'],
    ]) {
      const ok = await run('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${tlsPort}`,
        '-servername',
        hostA,
        flag as string,
      ]);
      expect(ok.out).toContain(`New, ${name}, Cipher is`);
    }
    // SECLEVEL=0 lets this openssl offer the old versions at all: the refusal is the router's.
    for (const version of ['-tls1', '-tls1_1']) {
      const old = await run('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${tlsPort}`,
        '-servername',
        hostA,
        version,
        '-cipher',
        'DEFAULT@SECLEVEL=0',
      ]);
      expect(old.code).not.toBe(0);
      expect(old.out).toMatch(/alert protocol version|no protocols available|wrong version|unsupported protocol/i);
    }
  });

  it('offers http/1.1 by ALPN and tells the app the client used https (X-Forwarded-Proto, Forwarded)', async () => {
    const s = await run('openssl', [
      's_client',
      '-connect',
      `127.0.0.1:${tlsPort}`,
      '-servername',
      hostA,
      '-alpn',
      'http/1.1',
    ]);
    expect(s.out).toContain('ALPN protocol: http/1.1');
    // A client's own claim is not believed: the router says what it saw.
    const h = await curl(hostA, '/headers', ['-H', 'X-Forwarded-Proto: gopher']);
    const headers = JSON.parse(h.out).headers;
    expect(headers['x-forwarded-proto']).toBe('https');
    expect(headers.forwarded).toMatch(/proto=https$/);
    const plain = await get(`${router.url}/headers`, { headers: { host: hostA, 'x-forwarded-proto': 'https' } });
    expect(JSON.parse(plain.body).headers['x-forwarded-proto']).toBe('http');
  });

  it('chooses h2 by ALPN for every host: gRPC over TLS to an h2c revision, curl --http2 and h2load to an HTTP/1.1 one', async () => {
    const alpn = (servername: string) =>
      run('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${tlsPort}`,
        '-servername',
        servername,
        '-alpn',
        'h2,http/1.1',
      ]);
    expect((await alpn(hostRpc)).out).toContain('ALPN protocol: h2');
    // An HTTP/1.1 revision too: the router translates the streams to HTTP/1.1 requests.
    expect((await alpn(hostA)).out).toContain('ALPN protocol: h2');

    const client = new TestGrpcClient(tlsPort, hostRpc, ca.cert);
    try {
      const r = await client.unary<{ message: string }>('Unary', { name: 'tls' });
      expect(r.status.code).toBe(grpc.status.OK);
      expect(r.value).toEqual({ message: 'hello tls' });
      const stream = await client.serverStream<{ i: number }>('Count', { count: 3, intervalMs: 10 });
      expect(stream.values.map((v) => v.i)).toEqual([0, 1, 2]);
    } finally {
      client.close();
    }
    const rpc = await curl(hostRpc, '/skiff.Test/Unary', ['--http2', '-o', '/dev/null', '-w', '%{http_version}']);
    expect(rpc).toEqual({ code: 0, out: '2' });
    const shop = await curl(hostA, '/', ['--http2', '-w', ' %{http_version}']);
    expect(shop).toEqual({ code: 0, out: 'Hello tls!\n 2' });
    // A body both ways (DATA frames in, chunks or a length out, and back).
    const body = 'x'.repeat(100_000);
    const echo = await curl(hostA, '/echo', ['--http2', '--data-binary', body, '-H', 'content-type: text/plain']);
    expect(echo).toEqual({ code: 0, out: body });
    const upload = await curl(hostA, '/upload', ['--http2', '--data-binary', '@-', '-H', 'transfer-encoding: chunked']);
    expect(upload.code).toBe(0);
    // What the HTTP/1.1 app is told: the authority as Host, https, no HTTP/2 pseudo-headers.
    const h = await curl(hostA, '/headers', ['--http2']);
    const seen = JSON.parse(h.out) as { headers: Record<string, string> };
    expect(seen.headers.host).toBe(`${hostA}:${tlsPort}`);
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(Object.keys(seen.headers).filter((n) => n.startsWith(':'))).toEqual([]);

    // h2load: many streams on few connections to the HTTP/1.1 revision, every one answered 200.
    const load = await run('h2load', [
      '-n',
      '400',
      '-c',
      '2',
      '-m',
      '16',
      `--connect-to=127.0.0.1:${tlsPort}`,
      `https://${hostA}:${tlsPort}/`,
    ]);
    expect(load.out).toContain('Application protocol: h2');
    expect(load.out).toMatch(/requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed/);
    expect(load.out).toMatch(/status codes: 400 2xx, 0 3xx, 0 4xx, 0 5xx/);
  });

  it('rotates a certificate under load: new handshakes get the new one, no request fails', async () => {
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 3, ca: ca.cert, servername: hostA });
    let failures = 0;
    let answered = 0;
    let fresh = 0;
    let running = true;
    const one = (agent: Agent | false) =>
      new Promise<void>((resolve) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: tlsPort,
            path: '/',
            servername: hostA,
            headers: { host: hostA },
            agent,
            ...(agent === false ? { ca: ca.cert } : {}),
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) answered++;
              else failures++;
              resolve();
            });
          },
        );
        req.on('error', () => {
          failures++;
          resolve();
        });
        req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
        req.end();
      });
    const loops = [
      ...Array.from({ length: 3 }, async () => {
        while (running) await one(keepAlive);
      }),
      // New connections, so that handshakes happen while the certificate changes.
      (async () => {
        while (running) {
          await one(false);
          fresh++;
        }
      })(),
    ];
    await waitFor(() => answered > 50 && fresh > 5, 20_000, 'load before the rotation');
    const rotated = issueServingCertificate(ca, [hostA]);
    cp.publish({
      ...routes(),
      certificates: [
        { hosts: [hostA], ...rotated },
        { hosts: [hostB], ...certB },
        { hosts: [hostRpc], ...certRpc },
      ],
    });
    const want = new X509Certificate(rotated.cert).fingerprint256;
    await waitFor(
      async () => {
        const seen = await presented(tlsPort, hostA);
        return typeof seen !== 'string' && seen.fingerprint256 === want;
      },
      10_000,
      'the rotated certificate',
    );
    const freshAtRotation = fresh;
    await waitFor(() => fresh > freshAtRotation + 5, 20_000, 'load after the rotation');
    running = false;
    await Promise.all(loops);
    keepAlive.destroy();
    expect(failures).toBe(0);
    expect(answered).toBeGreaterThan(60);
  });

  it('answers ACME HTTP-01 challenges on plain HTTP, and applies each host’s http-protocol', async () => {
    cp.publish({
      ...routes({ httpA: 'redirected' }),
      certificates: [{ hosts: [hostA], ...certA }],
      challenges: [{ token: 'tok-123', keyAuthorization: 'tok-123.thumbprint' }],
    });
    await waitFor(
      async () =>
        (await get(`${router.url}/.well-known/acme-challenge/tok-123`, { headers: { host: hostA } })).status === 200,
      10_000,
      'the challenge',
    );
    const answer = await get(`${router.url}/.well-known/acme-challenge/tok-123`, { headers: { host: hostA } });
    expect(answer.body.trim()).toBe('tok-123.thumbprint');
    const unknown = await get(`${router.url}/.well-known/acme-challenge/nope`, { headers: { host: 'x.example.test' } });
    expect(unknown.status).toBe(404);

    // redirected: plain HTTP answers 301 to the same path on HTTPS; HTTPS serves, with HSTS.
    const redirect = await get(`${router.url}/some/path?q=1`, { headers: { host: hostA } });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://${hostA}:${tlsPort}/some/path?q=1`);
    const https = await run('curl', [
      '-sS',
      '-i',
      '--cacert',
      caFile,
      '--resolve',
      `${hostA}:${tlsPort}:127.0.0.1`,
      `https://${hostA}:${tlsPort}/`,
    ]);
    expect(https.out).toMatch(/^HTTP\/2 200/);
    expect(https.out.toLowerCase()).toContain('strict-transport-security: max-age=31536000');
    const https1 = await curl(hostA, '/', ['-i', '--http1.1']);
    expect(https1.out).toMatch(/^HTTP\/1\.1 200/);
    expect(https1.out.toLowerCase()).toContain('strict-transport-security: max-age=31536000');
    // HSTS is never sent over plain HTTP, and not for hosts that still serve it.
    const b = await get(`${router.url}/`, { headers: { host: hostB } });
    expect(b.status).toBe(200);
    expect(b.headers['strict-transport-security']).toBeUndefined();

    cp.publish({ ...routes({ httpA: 'disabled' }), certificates: [{ hosts: [hostA], ...certA }] });
    await waitFor(
      async () => (await get(`${router.url}/`, { headers: { host: hostA } })).status === 404,
      10_000,
      'http disabled',
    );
    expect((await curl(hostA)).out).toBe('Hello tls!\n');
    // The certificate left the snapshot with its host's mapping: the router no longer serves it.
    cp.publish({ ...routes(), certificates: [] });
    await waitFor(async () => typeof (await presented(tlsPort, hostB)) === 'string', 10_000, 'B withdrawn');
  });

  it('redirects plain HTTP only once the host has a certificate: until then it serves it (Knative)', async () => {
    // hostA redirected, but no certificate for it yet (an ACME order still running).
    cp.publish({ ...routes({ httpA: 'redirected' }), certificates: [{ hosts: [hostB], ...certB }] });
    await waitFor(
      async () => typeof (await presented(tlsPort, hostA)) === 'string',
      10_000,
      'the snapshot without A’s certificate',
    );
    const served = await get(`${router.url}/`, { headers: { host: hostA } });
    expect(served.status).toBe(200);
    expect(served.body).toBe('Hello tls!\n');
    expect(served.headers.location).toBeUndefined();

    cp.publish({ ...routes({ httpA: 'redirected' }), certificates: [{ hosts: [hostA], ...certA }] });
    await waitFor(
      async () => (await get(`${router.url}/x`, { headers: { host: hostA } })).status === 301,
      10_000,
      'the redirect once the certificate is in',
    );
    expect((await get(`${router.url}/x`, { headers: { host: hostA } })).headers.location).toBe(
      `https://${hostA}:${tlsPort}/x`,
    );
  });

  it('never serves an expired, mismatched or malformed certificate, and says why in its log', async () => {
    const lastYear = new Date(Date.now() - 400 * 86_400_000);
    const expired = issueServingCertificate(ca, [hostA], lastYear, 30);
    const good = issueServingCertificate(ca, [hostB]);
    cp.publish({
      ...routes(),
      certificates: [
        { hosts: [hostA], ...expired },
        // B's certificate with another key: the pair does not match.
        { hosts: [hostB], cert: good.cert, key: certA.key },
        { hosts: [hostRpc], cert: 'not a certificate', key: 'nor a key' },
        // A certificate for B offered for the rpc host too: it does not name it.
        { hosts: [hostB, 'other.example.test'], ...good },
      ],
    });
    // The valid pair for B is served (the later entry), the mismatched one never was.
    await waitFor(
      async () => {
        const seen = await presented(tlsPort, hostB);
        return typeof seen !== 'string' && seen.fingerprint256 === new X509Certificate(good.cert).fingerprint256;
      },
      10_000,
      'B with its valid certificate',
    );
    expect(typeof (await presented(tlsPort, hostA))).toBe('string');
    expect(typeof (await presented(tlsPort, hostRpc))).toBe('string');
    expect(typeof (await presented(tlsPort, 'other.example.test'))).toBe('string');
    expect((await curl(hostA)).code).not.toBe(0);
    expect(await curl(hostB)).toEqual({ code: 0, out: 'Hello tls!\n' });
    const log = router.output();
    expect(log).toMatch(/certificate for shop\.example\.test not served: the certificate expired on/);
    expect(log).toMatch(
      /certificate for blog\.example\.test not served: the private key does not belong to the certificate/,
    );
    expect(log).toMatch(
      /certificate for rpc\.example\.test not served: the certificate is not a PEM X\.509 certificate/,
    );
    expect(log).toMatch(
      /certificate for other\.example\.test not served: the certificate does not name other\.example\.test/,
    );
    // Plain HTTP still serves: one bad certificate costs its host HTTPS, not the router.
    expect((await get(`${router.url}/`, { headers: { host: hostA } })).status).toBe(200);
  });
});
