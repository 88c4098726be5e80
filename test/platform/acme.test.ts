import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seal } from '../../control-plane/src/acme/seal.ts';
import { describePebble, type Pebble, pebbleAvailability, startPebble } from '../helpers/pebble.ts';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { childrenOf, freePorts, stopAll, waitFor } from '../helpers/processes.ts';

// ACME end to end on `skiff up --acme-directory`: Let's Encrypt's pebble orders real HTTP-01
// validation against the router's plain HTTP port (its DNS answers 127.0.0.1), the control plane
// orders, stores (sealed) and renews certificates, and the router serves them over TLS, checked
// against the root pebble issues from (fetched from its management port).

const dmPath = (name = '') =>
  `/apis/serving.knative.dev/v1beta1/namespaces/default/domainmappings${name ? `/${name}` : ''}`;
const mapping = (domain: string) => ({
  apiVersion: 'serving.knative.dev/v1beta1',
  kind: 'DomainMapping',
  metadata: { name: domain },
  spec: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'hello' } },
});

type Condition = { type: string; status: string; reason?: string; message?: string };
async function condition(p: Platform, domain: string, type: string): Promise<Condition | undefined> {
  const dm = (await (await p.api('GET', dmPath(domain))).json()) as { status?: { conditions?: Condition[] } };
  return dm.status?.conditions?.find((c) => c.type === type);
}

interface Served {
  serial: string;
  issuer: string;
  subjectAltName: string;
}

/** A TLS handshake with SNI `domain` at the router, verified against `root`: the leaf it served. */
function handshake(port: number, domain: string, root: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: domain, ca: root, timeout: 5_000 }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (!cert) reject(new Error('no certificate'));
      else resolve({ serial: cert.serialNumber, issuer: cert.issuer, subjectAltName: cert.subjectAltName ?? '' });
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
  });
}

/** An HTTPS GET through the router, verified against `root`: status and body. */
function httpsGet(port: number, domain: string, root: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: domain, ca: root, timeout: 5_000 }, () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${domain}\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

const available = pebbleAvailability();
const pebbleDir = available.ok ? available.dir : '';

async function platformWithPebble(
  validitySeconds?: number,
  args: string[] = [],
): Promise<{ p: Platform; pebble: Pebble; tlsPort: number; root: string }> {
  const [api, router, tlsPort] = (await freePorts(3)) as [number, number, number];
  const pebble = await startPebble(pebbleDir, router, validitySeconds);
  const p = await startPlatform(
    undefined,
    { api, router },
    ['--acme-directory', pebble.directory, '--acme-ca', pebble.minicaFile, '--acme-email', 'ops@example.test', ...args],
    { SKIFF_ROUTER_TLS_PORT: String(tlsPort) },
  );
  await ready(p, 'hello', 60_000);
  return { p, pebble, tlsPort, root: await pebble.issuingRoot() };
}

describePebble('ACME certificates from pebble (skiff up --acme-directory)', () => {
  let p: Platform;
  let pebble: Pebble;
  let tlsPort: number;
  let root: string;

  beforeAll(async () => {
    ({ p, pebble, tlsPort, root } = await platformWithPebble());
  }, 90_000);
  afterAll(stopAll);

  it('orders a certificate for a DomainMapping and serves it over TLS, trusted through pebble’s root', async () => {
    expect(p.proc.output()).toContain(
      `ACME:       https://<mapped domain>:${tlsPort}   (certificates from ${pebble.directory}`,
    );
    expect((await p.api('POST', dmPath(), mapping('shop.example.test'))).status).toBe(201);
    await waitFor(
      async () => (await condition(p, 'shop.example.test', 'Ready'))?.status === 'True',
      45_000,
      'the mapping Ready',
    );
    expect(await condition(p, 'shop.example.test', 'CertificateProvisioned')).toMatchObject({ status: 'True' });
    const dm = (await (await p.api('GET', dmPath('shop.example.test'))).json()) as { status: { url: string } };
    expect(dm.status.url).toBe('https://shop.example.test');

    const served = await handshake(tlsPort, 'shop.example.test', root);
    expect(served.subjectAltName).toBe('DNS:shop.example.test');
    expect(served.issuer).toContain('Pebble Intermediate CA');
    const answer = await httpsGet(tlsPort, 'shop.example.test', root);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('Hello World!');
    // Another domain gets no certificate (there is no local CA without --tls).
    await expect(handshake(tlsPort, 'other.example.test', root)).rejects.toThrow();

    // At rest: the store key is the owner's only, and no private key is in the database in clear.
    expect(statSync(join(p.dataDir, 'acme-store.key')).mode & 0o777).toBe(0o600);
    const db =
      readFileSync(join(p.dataDir, 'skiff.db')).toString('latin1') +
      readFileSync(join(p.dataDir, 'skiff.db-wal')).toString('latin1');
    expect(db).not.toContain('PRIVATE KEY');
    const rows = new Database(join(p.dataDir, 'skiff.db'), { readonly: true });
    try {
      const row = rows
        .prepare("SELECT serial, sealed FROM acme_certificates WHERE domain = 'shop.example.test'")
        .get() as { serial: string; sealed: string };
      expect(row.serial).toBe(served.serial);
      expect(row.sealed).toMatch(/^v1\./);
      const account = rows.prepare('SELECT sealed_key FROM acme_accounts').get() as { sealed_key: string };
      expect(account.sealed_key).toMatch(/^v1\./);
    } finally {
      rows.close();
    }
  });

  it('shows a failed HTTP-01 challenge on the DomainMapping, serves HTTP meanwhile, and recovers once validation can succeed', async () => {
    // pebble's DNS sends its validation for this name to 127.0.0.2, where nothing listens.
    await pebble.setAddress('fail.example.test', '127.0.0.2');
    expect((await p.api('POST', dmPath(), mapping('fail.example.test'))).status).toBe(201);
    await waitFor(
      async () => (await condition(p, 'fail.example.test', 'CertificateProvisioned'))?.status === 'False',
      30_000,
      'the failure',
    );
    const failed = (await condition(p, 'fail.example.test', 'CertificateProvisioned')) as Condition;
    expect(failed.reason).toBe('CertificateProvisionFailed');
    expect(failed.message).toMatch(
      /^the HTTP-01 challenge failed \(connection\): .*127\.0\.0\.2.*; next attempt at \d{4}-\d\d-\d\dT/,
    );
    expect(await condition(p, 'fail.example.test', 'Ready')).toMatchObject({
      status: 'False',
      reason: 'CertificateProvisionFailed',
    });
    expect(await condition(p, 'fail.example.test', 'IngressReady')).toMatchObject({ status: 'True' });
    // Plain HTTP serves the mapped domain while there is no certificate; TLS has none for it.
    expect(await (await p.get('fail.example.test')).text()).toBe('Hello World!\n');
    await expect(handshake(tlsPort, 'fail.example.test', root)).rejects.toThrow();

    await pebble.setAddress('fail.example.test', undefined);
    // The next attempt comes after the backoff (5–10 s after the first failure, then doubling).
    await waitFor(
      async () => (await condition(p, 'fail.example.test', 'CertificateProvisioned'))?.status === 'True',
      60_000,
      'the retry to succeed',
    );
    expect((await handshake(tlsPort, 'fail.example.test', root)).subjectAltName).toBe('DNS:fail.example.test');
  }, 90_000);

  it('shows an order the server refuses with the server’s problem type and words, and keeps retrying with backoff', async () => {
    expect((await p.api('POST', dmPath(), mapping('blocked.example.test'))).status).toBe(201);
    await waitFor(
      async () => (await condition(p, 'blocked.example.test', 'CertificateProvisioned'))?.status === 'False',
      30_000,
      'the refusal',
    );
    const refused = (await condition(p, 'blocked.example.test', 'CertificateProvisioned')) as Condition;
    expect(refused.reason).toBe('CertificateProvisionFailed');
    expect(refused.message).toMatch(
      /^placing the order failed \(rejectedIdentifier\): .*blocked\.example\.test.*; next attempt at \d{4}-/,
    );
    // The second refusal comes after the first backoff (5–10 s), the third after 10–20 s more.
    await waitFor(
      () => /ordering a certificate for blocked\.example\.test failed \(2 in a row/.test(p.proc.output()),
      30_000,
      'a second attempt',
    );
    expect(p.proc.output()).not.toMatch(/blocked\.example\.test failed \(3 in a row/);
    expect((await p.api('DELETE', dmPath('blocked.example.test'))).status).toBe(200);
  }, 60_000);

  const supervisor = () => p.proc.child.pid as number;
  const controlPlane = () => childrenOf(supervisor()).find((c) => c.command.includes('up-control-plane'));
  async function restartControlPlane(): Promise<void> {
    const before = controlPlane();
    if (!before) throw new Error('no control plane process');
    process.kill(before.pid, 'SIGKILL');
    await waitFor(
      () => {
        const now = controlPlane();
        return now !== undefined && now.pid !== before.pid;
      },
      30_000,
      'a new control plane',
    );
    await waitFor(
      async () => {
        try {
          return (await p.api('GET', dmPath())).status === 200;
        } catch {
          return false;
        }
      },
      60_000,
      'the API back',
    );
  }
  const issuedLines = (domain: string) =>
    p.proc
      .output()
      .split('\n')
      .filter((l) => l.includes(`acme: issued the certificate for ${domain} `)).length;

  it('keeps its certificate across a control-plane restart: the same serial, nothing ordered again', async () => {
    const before = await handshake(tlsPort, 'shop.example.test', root);
    expect(issuedLines('shop.example.test')).toBe(1);
    await restartControlPlane();
    // The restarted control plane has published its snapshot (the mapping's status is its own).
    await waitFor(
      async () => (await condition(p, 'shop.example.test', 'Ready'))?.status === 'True',
      30_000,
      'Ready again',
    );
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await handshake(tlsPort, 'shop.example.test', root)).serial).toBe(before.serial);
    expect(issuedLines('shop.example.test')).toBe(1);
  }, 90_000);

  it('never serves a malformed stored certificate: it is left out and a new one ordered', async () => {
    const before = await handshake(tlsPort, 'shop.example.test', root);
    // A row that opens with the store key but holds no certificate (as a bad write or a bad
    // restore would leave it).
    const key = Buffer.from(readFileSync(join(p.dataDir, 'acme-store.key'), 'utf8').trim(), 'base64');
    const db = new Database(join(p.dataDir, 'skiff.db'));
    try {
      db.pragma('busy_timeout = 5000');
      const sealed = seal(
        key,
        JSON.stringify({
          cert: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n',
          key: 'nope',
        }),
        `acme-certificate\nshop.example.test\n${pebble.directory}`,
      );
      db.prepare("UPDATE acme_certificates SET sealed = ? WHERE domain = 'shop.example.test'").run(sealed);
    } finally {
      db.close();
    }
    await restartControlPlane();
    // Until the new certificate is in, every handshake either fails or shows a certificate pebble
    // issued for the domain (never the stored garbage).
    const seen = new Set<string>();
    await waitFor(
      async () => {
        try {
          const served = await handshake(tlsPort, 'shop.example.test', root);
          expect(served.subjectAltName).toBe('DNS:shop.example.test');
          seen.add(served.serial);
          return served.serial !== before.serial;
        } catch (e) {
          if ((e as Error).name === 'AssertionError') throw e;
          return false;
        }
      },
      45_000,
      'a new certificate',
    );
    expect(p.proc.output()).toMatch(
      /acme: the stored certificate for shop\.example\.test is not used: not a PEM certificate/,
    );
    expect(issuedLines('shop.example.test')).toBe(2);
    expect(await condition(p, 'shop.example.test', 'CertificateProvisioned')).toMatchObject({ status: 'True' });
    const x509 = new X509Certificate(root);
    expect(x509.subject).toContain('Pebble Root CA');
  }, 90_000);
});

describePebble(
  'ACME renewal (certificates 30 days and 20 s long: renewal due 20 s after issue), and service hosts',
  () => {
    let p: Platform;
    let tlsPort: number;
    let root: string;

    beforeAll(async () => {
      ({ p, tlsPort, root } = await platformWithPebble(30 * 86_400 + 20, ['--acme-service-hosts']));
    }, 90_000);
    afterAll(stopAll);

    it('renews 30 days before expiry and serves the new certificate without a restart', async () => {
      expect((await p.api('POST', dmPath(), mapping('renew.example.test'))).status).toBe(201);
      await waitFor(
        async () => (await condition(p, 'renew.example.test', 'Ready'))?.status === 'True',
        45_000,
        'Ready',
      );
      // Ready says the control plane holds the certificate; the router has it a snapshot later.
      let first: Served | undefined;
      await waitFor(
        async () => {
          first = await handshake(tlsPort, 'renew.example.test', root).catch(() => undefined);
          return first !== undefined;
        },
        15_000,
        'the first certificate at the router',
      );
      let renewed: Served | undefined;
      await waitFor(
        async () => {
          renewed = await handshake(tlsPort, 'renew.example.test', root);
          return renewed.serial !== first?.serial;
        },
        60_000,
        'the renewed certificate',
      );
      expect(renewed?.subjectAltName).toBe('DNS:renew.example.test');
      expect(p.proc.output()).toMatch(/acme: renewed the certificate for renew\.example\.test \(serial/);
      // Serving went on throughout: the mapping never left Ready.
      expect(await condition(p, 'renew.example.test', 'CertificateProvisioned')).toMatchObject({ status: 'True' });
    }, 90_000);

    it('orders certificates for services’ own hosts with --acme-service-hosts, a new service’s too', async () => {
      await waitFor(
        async () => (await handshake(tlsPort, 'hello.default.localhost', root).catch(() => undefined)) !== undefined,
        45_000,
        'hello’s certificate',
      );
      expect((await handshake(tlsPort, 'hello.default.localhost', root)).subjectAltName).toBe(
        'DNS:hello.default.localhost',
      );
      expect((await p.api('POST', servicePath(), appService('later', {}, { TARGET: 'Later' }))).status).toBe(201);
      await ready(p, 'later', 60_000);
      await waitFor(
        async () => (await handshake(tlsPort, 'later.default.localhost', root).catch(() => undefined)) !== undefined,
        45_000,
        'the new service’s certificate',
      );
      expect(await httpsGet(tlsPort, 'later.default.localhost', root)).toContain('Hello Later!');
      // Cluster-local names are never sent to the ACME server.
      expect(p.proc.output()).not.toMatch(/acme: [^\n]*svc\.cluster\.local/);
    }, 120_000);
  },
);

describePebble(
  'ACME for service hosts with http-protocol redirected: the Route’s certificate condition, redirects once it is ready, nothing kept for deleted mappings',
  () => {
    let p: Platform;
    let pebble: Pebble;
    let tlsPort: number;
    let root: string;
    const host = 'hello.default.localhost';
    const routePath = '/apis/serving.knative.dev/v1/namespaces/default/routes/hello';
    const conditionOf = async (path: string, type: string): Promise<Condition | undefined> => {
      const o = (await (await p.api('GET', path)).json()) as { status?: { conditions?: Condition[] } };
      return o.status?.conditions?.find((c) => c.type === type);
    };
    const stored = (domain: string): number => {
      const db = new Database(join(p.dataDir, 'skiff.db'), { readonly: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM acme_certificates WHERE domain = ?').get(domain) as { n: number })
          .n;
      } finally {
        db.close();
      }
    };

    beforeAll(async () => {
      const [api, router, tls] = (await freePorts(3)) as [number, number, number];
      tlsPort = tls;
      pebble = await startPebble(pebbleDir, router, undefined, { rateLimitFront: true });
      // The first orders for hello's host fail: pebble validates it at 127.0.0.2, where nothing listens.
      await pebble.setAddress(host, '127.0.0.2');
      p = await startPlatform(
        undefined,
        { api, router },
        [
          '--acme-directory',
          pebble.directory,
          '--acme-ca',
          pebble.minicaFile,
          '--acme-service-hosts',
          '--http-protocol',
          'redirected',
        ],
        { SKIFF_ROUTER_TLS_PORT: String(tlsPort), SKIFF_ACME_FORGET_AFTER_SECONDS: '2' },
      );
      root = await pebble.issuingRoot();
    }, 90_000);
    afterAll(async () => {
      await stopAll();
      await pebble?.close();
    });

    it('shows a failed order on the Route (and the Service’s RoutesReady), serves plain HTTP meanwhile, and redirects once the certificate is in', async () => {
      await waitFor(
        async () => (await conditionOf(routePath, 'CertificateProvisioned'))?.status === 'False',
        60_000,
        'the failed order on the Route',
      );
      const failed = (await conditionOf(routePath, 'CertificateProvisioned')) as Condition;
      expect(failed.reason).toBe('CertificateProvisionFailed');
      expect(failed.message).toMatch(
        /^Certificate for hello\.default\.localhost fails to be provisioned: the HTTP-01 challenge failed \(connection\): .*127\.0\.0\.2.*; next attempt at \d{4}-/,
      );
      expect(await conditionOf(routePath, 'Ready')).toMatchObject({
        status: 'False',
        reason: 'CertificateProvisionFailed',
      });
      // The Service reflects its Route: RoutesReady (and so Ready) False with the same reason.
      expect(await conditionOf(servicePath('hello'), 'RoutesReady')).toMatchObject({
        status: 'False',
        reason: 'CertificateProvisionFailed',
      });
      expect(await conditionOf(servicePath('hello'), 'CertificateProvisioned')).toMatchObject({ status: 'False' });
      // No certificate yet: plain HTTP serves the host instead of redirecting to a failed handshake.
      const plain = await p.get(host);
      expect(plain.status).toBe(200);
      expect(await plain.text()).toBe('Hello World!\n');
      await expect(handshake(tlsPort, host, root)).rejects.toThrow();

      await pebble.setAddress(host, undefined);
      await waitFor(
        async () => (await conditionOf(routePath, 'CertificateProvisioned'))?.status === 'True',
        60_000,
        'the certificate after the retry',
      );
      expect(await conditionOf(routePath, 'Ready')).toMatchObject({ status: 'True' });
      await waitFor(
        async () => (await conditionOf(servicePath('hello'), 'Ready'))?.status === 'True',
        30_000,
        'the Service Ready',
      );
      await waitFor(async () => (await p.get(host, '/x?y=1')).status === 301, 15_000, 'the redirect');
      expect((await p.get(host, '/x?y=1')).headers.get('location')).toBe(`https://${host}:${tlsPort}/x?y=1`);
      expect((await handshake(tlsPort, host, root)).subjectAltName).toBe(`DNS:${host}`);
      expect(await httpsGet(tlsPort, host, root)).toContain('Hello World!');
    }, 150_000);

    it('shows a rate-limited order with the server’s words on the DomainMapping, and waits for its Retry-After before the next', async () => {
      // Retry-After 12 s, longer than the first backoff (5–10 s): the next order waits for it.
      pebble.rateLimit('limited.example.test', 12);
      expect((await p.api('POST', dmPath(), mapping('limited.example.test'))).status).toBe(201);
      await waitFor(
        async () => (await condition(p, 'limited.example.test', 'CertificateProvisioned'))?.status === 'False',
        30_000,
        'the rate limit on the mapping',
      );
      const limited = (await condition(p, 'limited.example.test', 'CertificateProvisioned')) as Condition;
      expect(limited.reason).toBe('CertificateProvisionFailed');
      expect(limited.message).toMatch(
        /^rate limited by the ACME server: too many new orders \(300\) for limited\.example\.test in the last 3h0m0s, retry after 12 s; next attempt at (\S+)$/,
      );
      const first = pebble.refused.get('limited.example.test')?.[0] as number;
      const next = Date.parse(/next attempt at (\S+)$/.exec(limited.message ?? '')?.[1] ?? '');
      expect(next - first).toBeGreaterThanOrEqual(11_000);
      expect(next - first).toBeLessThan(14_000);
      // The second order comes at that time, not before (no hot loop, not at the shorter backoff).
      await waitFor(() => (pebble.refused.get('limited.example.test')?.length ?? 0) >= 2, 30_000, 'the second order');
      const [a, b] = pebble.refused.get('limited.example.test') as [number, number];
      expect(b - a).toBeGreaterThanOrEqual(11_500);
      pebble.rateLimit('limited.example.test', undefined);
      await waitFor(
        async () => (await condition(p, 'limited.example.test', 'CertificateProvisioned'))?.status === 'True',
        45_000,
        'the certificate once the limit is lifted',
      );
      expect(pebble.refused.get('limited.example.test')).toHaveLength(2);
      expect((await p.api('DELETE', dmPath('limited.example.test'))).status).toBe(200);
    }, 120_000);

    it('deletes a deleted DomainMapping’s certificate and key from the store once nothing wants it', async () => {
      expect((await p.api('POST', dmPath(), mapping('gone.example.test'))).status).toBe(201);
      await waitFor(
        async () => (await condition(p, 'gone.example.test', 'CertificateProvisioned'))?.status === 'True',
        60_000,
        'the mapping’s certificate',
      );
      expect(stored('gone.example.test')).toBe(1);
      expect((await handshake(tlsPort, 'gone.example.test', root)).subjectAltName).toBe('DNS:gone.example.test');

      expect((await p.api('DELETE', dmPath('gone.example.test'))).status).toBe(200);
      // Kept SKIFF_ACME_FORGET_AFTER_SECONDS (2 s here; an hour by default), then deleted.
      await waitFor(() => stored('gone.example.test') === 0, 30_000, 'the stored certificate deleted');
      expect(p.proc.output()).toMatch(/acme: deleted the certificate for gone\.example\.test \(no DomainMapping/);
      await expect(handshake(tlsPort, 'gone.example.test', root)).rejects.toThrow();
      // Hello's, still wanted, is kept.
      expect(stored(host)).toBe(1);
    }, 90_000);
  },
);
