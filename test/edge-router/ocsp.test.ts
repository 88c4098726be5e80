import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ocspRefreshAt, ocspUrl, readOcspResponse } from '@skiff/http/tls/ocsp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcspStapler } from '../../edge-router/src/node/ocsp.ts';
import { ControlPlaneStub } from '../helpers/control-plane-stub.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { freePort, stopAll, waitFor } from '../helpers/processes.ts';

/**
 * An OCSP responder over HTTP (RFC 6960 appendix A: POST application/ocsp-request) on 127.0.0.1
 * only; `openssl ocsp -port` cannot be told an address and listens on every interface, so it
 * answers each request in its one-shot mode (`answer`) instead.
 */
class OcspResponder {
  answer: (request: Buffer) => Promise<Buffer> = () => Promise.reject(new Error('no answer yet'));
  #server: Server | undefined;

  listen(): Promise<number> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST') {
          res.writeHead(405).end();
          return;
        }
        this.answer(Buffer.concat(chunks)).then(
          (der) => res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(der),
          (e: Error) => res.writeHead(500).end(e.message),
        );
      });
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

/** `openssl s_client -status`: what a client asking for the certificate's status is told. */
function sClient(port: number, servername: string, caFile: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, '-status', '-CAfile', caFile],
      { timeout: 15_000 },
      (_error, stdout, stderr) => resolve(`${stdout}${stderr}`),
    );
    child.stdin?.end('');
  });
}

// OCSP stapling on the Node router's TLS listener: certificates from a CA whose leaf names an OCSP
// responder (a real `openssl ocsp` answering on loopback), a certificate without one (as the local CA's), and
// a revoked one; openssl s_client -status as the client.
describe('edge router on node: OCSP stapling', () => {
  const cp = new ControlPlaneStub();
  const dir = mkdtempSync(join(tmpdir(), 'skiff-ocsp-'));
  const file = (name: string) => join(dir, name);
  let router: RouterProc;
  let tlsPort: number;
  let ocspPort: number;
  let pems: { leaf: string; ca: string };

  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  /** A leaf for `host` signed by the CA, naming the responder unless `ocsp` is false. */
  const leaf = (host: string, ocsp: boolean) => {
    const ext = [
      `subjectAltName=DNS:${host}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
    ];
    if (ocsp) ext.push(`authorityInfoAccess=OCSP;URI:http://127.0.0.1:${ocspPort}`);
    writeFileSync(file(`${host}.ext`), `${ext.join('\n')}\n`);
    openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${host}`,
      '-keyout',
      `${host}.key`,
      '-out',
      `${host}.csr`,
    ]);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${host}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '30',
      ].concat(['-extfile', `${host}.ext`, '-out', `${host}.crt`]),
    );
    return { cert: readFileSync(file(`${host}.crt`), 'utf8'), key: readFileSync(file(`${host}.key`), 'utf8') };
  };
  /** An `openssl ca` index line: V (valid) or R (revoked), expiry, revocation, serial, subject. */
  const indexLine = (pem: string, revoked: boolean) => {
    const c = new X509Certificate(pem);
    const stamp = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`;
    const revokedAt = revoked ? stamp(new Date(Date.now() - 60_000)) : '';
    return [
      revoked ? 'R' : 'V',
      stamp(new Date(c.validTo)),
      revokedAt,
      c.serialNumber,
      'unknown',
      `/CN=${c.subject.replace('CN=', '')}`,
    ].join('\t');
  };

  /** One OCSP request answered by `openssl ocsp` from the CA's index (one process per request). */
  const ocspAnswer = (request: Buffer): Promise<Buffer> => {
    const n = ++requests;
    writeFileSync(file(`req-${n}.der`), request);
    return new Promise((resolve, reject) =>
      execFile(
        'openssl',
        ['ocsp', '-index', 'index.txt', '-CA', 'ca.crt', '-rsigner', 'ca.crt', '-rkey', 'ca.key', '-nmin', '5'].concat([
          '-reqin',
          `req-${n}.der`,
          '-respout',
          `resp-${n}.der`,
        ]),
        { cwd: dir },
        (error) => (error ? reject(error) : resolve(readFileSync(file(`resp-${n}.der`)))),
      ),
    );
  };
  let requests = 0;
  const responder = new OcspResponder();

  beforeAll(async () => {
    ocspPort = await responder.listen();
    openssl(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=skiff-ocsp-test-ca'].concat(
        [
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
        ].concat(['-keyout', 'ca.key', '-out', 'ca.crt']),
      ),
    );
    const ca = readFileSync(file('ca.crt'), 'utf8');
    const stapled = leaf('ocsp.example.test', true);
    pems = { leaf: stapled.cert, ca };
    const plain = leaf('plain.example.test', false);
    const revoked = leaf('revoked.example.test', true);
    writeFileSync(file('index.txt'), `${indexLine(stapled.cert, false)}\n${indexLine(revoked.cert, true)}\n`);
    // The CA answers for itself (-rsigner), with responses valid 5 minutes (-nmin): nextUpdate set.
    responder.answer = (request) => ocspAnswer(request);
    await cp.start();
    // Chains as a TLS Secret holds them: leaf, then the issuer (the stapler needs it).
    cp.publish({
      routes: [],
      revisions: [],
      certificates: [
        { hosts: ['ocsp.example.test'], cert: `${stapled.cert}${ca}`, key: stapled.key },
        { hosts: ['plain.example.test'], cert: `${plain.cert}${ca}`, key: plain.key },
        { hosts: ['revoked.example.test'], cert: `${revoked.cert}${ca}`, key: revoked.key },
      ],
    });
    tlsPort = await freePort();
    router = await startRouter('node', {
      SKIFF_CONTROL_PLANE_URL: cp.url,
      SKIFF_ROUTER_TOKEN: cp.token,
      SKIFF_ROUTER_TLS_PORT: String(tlsPort),
    });
    await waitFor(() => /serving TLS/.test(router.output()), 10_000, 'the TLS listener');
  }, 60_000);

  afterAll(async () => {
    await responder.close();
    await cp.stop();
    await stopRouters();
    await stopAll();
  });

  /** s_client's output once a response is stapled (the first handshakes may go without while the router fetches). */
  const stapledAnswer = async (host: string): Promise<string> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const out = await sClient(tlsPort, host, file('ca.crt'));
      if (out.includes('OCSP Response Status') || Date.now() > deadline) return out;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it('staples the responder’s answer for a certificate that names one: good, with its validity', async () => {
    const out = await stapledAnswer('ocsp.example.test');
    expect(out).toContain('OCSP Response Status: successful (0x0)');
    expect(out).toContain('Cert Status: good');
    expect(out).toMatch(/Next Update: /);
    expect(out).toContain('Verify return code: 0 (ok)');
  });

  it('staples a revoked answer as the responder gives it', async () => {
    const out = await stapledAnswer('revoked.example.test');
    expect(out).toContain('OCSP Response Status: successful (0x0)');
    expect(out).toContain('Cert Status: revoked');
  });

  it('serves a certificate without an OCSP URL (as the local CA’s) with no staple', async () => {
    const out = await sClient(tlsPort, 'plain.example.test', file('ca.crt'));
    expect(out).toContain('OCSP response: no response sent');
    expect(out).toContain('Verify return code: 0 (ok)');
  });

  it('fetches once, staples the kept response, and fetches a fresh one halfway to nextUpdate (simulated clock)', async () => {
    let now = Date.now();
    // A loaded test machine may take more than a handshake's 2 s for the first fetch.
    const stapler = new OcspStapler({ now: () => now, handshakeWaitMs: 20_000 });
    const der = (pem: string) => new X509Certificate(pem).raw;
    const [cert, issuer] = [der(pems.leaf), der(pems.ca)];
    const first = await stapler.staple(cert, issuer);
    expect(first).toBeInstanceOf(Buffer);
    const answer = readOcspResponse(first as Buffer, cert);
    if ('problem' in answer) throw new Error(answer.problem);
    expect(answer.status).toBe('good');
    expect(stapler.fetches).toBe(1);
    // Before the refresh time: the kept response, no fetch.
    now = ocspRefreshAt(answer) - 1000;
    expect(await stapler.staple(cert, issuer)).toEqual(first);
    expect(stapler.fetches).toBe(1);
    // Past it (still before nextUpdate): this handshake gets the kept one, a fetch runs behind it.
    now = ocspRefreshAt(answer) + 1000;
    expect(await stapler.staple(cert, issuer)).toEqual(first);
    await waitFor(() => stapler.fetches === 2, 5000, 'the refresh');
    // Past nextUpdate with nothing newer, nothing stale is stapled.
    const late = new OcspStapler({ now: () => (answer.nextUpdate as Date).getTime() + 1000, handshakeWaitMs: 20_000 });
    expect(await late.staple(cert, issuer)).toBeUndefined();
    // A certificate naming no responder: no fetch at all.
    expect(ocspUrl(pems.ca)).toBeUndefined();
    expect(ocspUrl(pems.leaf)).toBe(`http://127.0.0.1:${ocspPort}`);
  });

  it('runs its test responder on loopback only (127.0.0.1: another loopback address is refused)', async () => {
    const reach = (host: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host, port: ocspPort }, () => {
          socket.destroy();
          resolve('connected');
        });
        socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
    expect(await reach('127.0.0.1')).toBe('connected');
    expect(await reach('127.0.0.2')).toBe('ECONNREFUSED');
  });

  it('keeps the response: later handshakes staple it without asking the responder again', async () => {
    const before = router.output().length;
    for (let i = 0; i < 3; i++) {
      expect(await sClient(tlsPort, 'ocsp.example.test', file('ca.crt'))).toContain('Cert Status: good');
    }
    expect(router.output().slice(before)).not.toMatch(/OCSP: no response/);
  });
});
