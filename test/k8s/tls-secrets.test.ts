import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { createCa, fetchTrusting, issueServingCertificate, type KeyPair, pkiFiles } from '@skiff/http/tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesBackend } from '../../control-plane/src/backends/kubernetes/kubernetes-backend.ts';
import { TlsSecrets } from '../../control-plane/src/backends/kubernetes/tls-secrets.ts';
import { StaticScale } from '../../control-plane/src/reconciler/reconciler.ts';
import { type ControlPlane, startControlPlane } from '../../control-plane/src/server.ts';
import { seedTestPki } from '../../control-plane/src/testing/pki.ts';
import { type RouterProc, startRouter, stopRouters } from '../helpers/edge-router.ts';
import { freePort } from '../helpers/processes.ts';
import { createNamespace, until } from './backend-helpers.ts';
import { describeK8s, kubeRequest, startTestCluster, type TestCluster } from './cluster.ts';

// Kubernetes TLS Secrets as the router's certificates: a DomainMapping's spec.tls.secretName and the
// platform's default wildcard Secret, read from a real kube-apiserver by the control plane, served
// by a real router process (SNI as a client sees it), reported on the DomainMapping's conditions.

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

const day = 86_400_000;

/** The certificate the router presents for `servername` (its SHA-256 fingerprint), or why none. */
function presented(port: number, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      resolve(cert?.fingerprint256 ?? 'no certificate');
    });
    socket.on('error', (e) => resolve(`refused: ${e.message}`));
  });
}
const fingerprint = (pair: KeyPair) => new X509Certificate(pair.cert).fingerprint256;

describeK8s('Kubernetes TLS Secrets as the router’s certificates (real API server, real router)', () => {
  let cluster: TestCluster;
  let ns: string;
  let dataDir: string;
  let backend: KubernetesBackend;
  let secrets: TlsSecrets;
  let cp: ControlPlane;
  let router: RouterProc;
  let tlsPort: number;
  let ca: KeyPair;
  let wildcard: KeyPair;

  const secretsPath = () => `/api/v1/namespaces/${ns}/secrets`;
  const tlsSecret = (name: string, pair: { cert: string; key: string }) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name },
    data: {
      'tls.crt': Buffer.from(pair.cert).toString('base64'),
      'tls.key': Buffer.from(pair.key).toString('base64'),
    },
  });
  const putSecret = async (name: string, pair: { cert: string; key: string }) => {
    const r = await kubeRequest(cluster, 'PUT', `${secretsPath()}/${name}`, tlsSecret(name, pair));
    if (r.status === 404) {
      const c = await kubeRequest(cluster, 'POST', secretsPath(), tlsSecret(name, pair));
      expect(c.status).toBe(201);
    } else expect(r.status).toBe(200);
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetchTrusting(cp.ca)(`${cp.url}${path}`, {
      method,
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, json: (await r.json()) as any };
  };
  const dmPath = (name = '') =>
    `/apis/serving.knative.dev/v1beta1/namespaces/default/domainmappings${name ? `/${name}` : ''}`;
  const mapping = (domain: string, secretName?: string) => ({
    apiVersion: 'serving.knative.dev/v1beta1',
    kind: 'DomainMapping',
    metadata: { name: domain },
    spec: {
      ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'hello' },
      ...(secretName ? { tls: { secretName } } : {}),
    },
  });
  const conditions = async (domain: string): Promise<Record<string, Condition>> => {
    const dm = (await api('GET', dmPath(domain))).json;
    return Object.fromEntries(((dm.status?.conditions ?? []) as Condition[]).map((c) => [c.type, c]));
  };
  const certificateCondition = (domain: string, status: string, reason?: string) =>
    until(`${domain}: CertificateProvisioned ${status}${reason ? `/${reason}` : ''}`, 20_000, async () => {
      const c = (await conditions(domain)).CertificateProvisioned;
      return c?.status === status && (reason === undefined || c.reason === reason) ? c : undefined;
    });

  beforeAll(async () => {
    cluster = await startTestCluster();
    ns = await createNamespace(cluster);
    ca = createCa('skiff-test-tls-secrets');
    wildcard = issueServingCertificate(ca, ['*.default.example.test', '*.apps.example.test']);
    await putSecret('wildcard', wildcard);
    dataDir = mkdtempSync(join(tmpdir(), 'skiff-k8s-tls-'));
    backend = await KubernetesBackend.start({ kubeconfig: cluster.kubeconfigPath, namespace: ns });
    secrets = await TlsSecrets.start({
      kubeConfig: backend.kubeConfig,
      namespace: ns,
      defaultSecret: { namespace: ns, name: 'wildcard' },
    });
    seedTestPki(dataDir);
    cp = await startControlPlane({
      dataDir,
      backend,
      secrets,
      apiPort: 0,
      userToken: 't',
      routerToken: 'r',
      domain: 'example.test',
      scale: new StaticScale(),
      resyncMs: 2000,
      log: () => {},
    });
    const hello = {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'hello' },
      spec: { template: { spec: { containers: [{ image: 'ghcr.io/knative/helloworld-go:latest' }] } } },
    };
    expect((await api('POST', '/apis/serving.knative.dev/v1/namespaces/default/services', hello)).status).toBe(201);
    tlsPort = await freePort();
    router = await startRouter('node', {
      SKIFF_CONTROL_PLANE_URL: cp.url,
      SKIFF_CONTROL_PLANE_CA_FILE: pkiFiles(dataDir).caCert,
      SKIFF_ROUTER_TOKEN: 'r',
      SKIFF_ROUTER_TLS_PORT: String(tlsPort),
    });
    await until('the TLS listener', 20_000, () => /serving TLS/.test(router.output()));
  }, 240_000);

  afterAll(async () => {
    await stopRouters();
    await cp?.close();
    secrets?.stop();
    await backend?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it('serves a DomainMapping’s TLS Secret for its domain, and a Secret update rotates it', async () => {
    const first = issueServingCertificate(ca, ['shop.example.com']);
    await putSecret('shop-tls', first);
    expect((await api('POST', dmPath(), mapping('shop.example.com', 'shop-tls'))).status).toBe(201);
    await certificateCondition('shop.example.com', 'True');
    const c = await conditions('shop.example.com');
    expect(c.Ready?.status).toBe('True');
    expect((await api('GET', dmPath('shop.example.com'))).json.status.url).toBe('https://shop.example.com');
    // The domain reaches the Service's route (so a refused mapping below is refused for its Secret).
    await until('the domain routed', 30_000, () =>
      cp.publisher.current().routes.some((r) => r.hosts.includes('shop.example.com')),
    );
    await until('the router presenting the Secret’s certificate', 20_000, async () =>
      (await presented(tlsPort, 'shop.example.com')) === fingerprint(first) ? true : undefined,
    );
    // Rotation: the Secret's new certificate is presented to new connections, no restart.
    const second = issueServingCertificate(ca, ['shop.example.com']);
    await putSecret('shop-tls', second);
    await until('the router presenting the rotated certificate', 20_000, async () =>
      (await presented(tlsPort, 'shop.example.com')) === fingerprint(second) ? true : undefined,
    );
  });

  it.each([
    [
      'missing.example.com',
      'SecretNotFound',
      () => undefined,
      /Secret "missing-tls" in namespace "skiff-test-\w+" not found/,
    ],
    [
      'expired.example.com',
      'CertificateExpired',
      () => issueServingCertificate(ca, ['expired.example.com'], new Date(Date.now() - 3 * day), 1),
      /the certificate expired on/,
    ],
    [
      'mismatch.example.com',
      'HostMismatch',
      () => issueServingCertificate(ca, ['other.example.com']),
      /does not name mismatch\.example\.com \(it names DNS:other\.example\.com\)/,
    ],
    [
      'wrongkey.example.com',
      'KeyMismatch',
      () => ({ cert: issueServingCertificate(ca, ['wrongkey.example.com']).cert, key: wildcard.key }),
      /the private key does not belong to the certificate/,
    ],
    [
      'malformed.example.com',
      'CertificateMalformed',
      () => ({ cert: 'not a certificate', key: wildcard.key }),
      /the certificate is not a PEM X\.509 certificate/,
    ],
  ])('reports %s on its conditions (%s) and never serves it', async (domain, reason, pair, message) => {
    const secretName = domain.replace('.example.com', '-tls');
    const p = pair();
    if (p) await putSecret(secretName, p);
    expect((await api('POST', dmPath(), mapping(domain, secretName))).status).toBe(201);
    const cert = await certificateCondition(domain, 'False', reason);
    expect(cert.message).toMatch(message);
    const c = await conditions(domain);
    expect(c.Ready).toMatchObject({ status: 'False', reason });
    expect(c.IngressReady?.status).toBe('False');
    // Not in the snapshot's certificates, and no handshake for the name: never another's certificate.
    expect(cp.publisher.current().certificates?.some((x) => x.hosts.includes(domain))).toBe(false);
    expect(await presented(tlsPort, domain)).toMatch(/^refused/);
    expect(cp.publisher.current().routes.some((r) => r.hosts.includes(domain))).toBe(false);
  });

  it('serves the mapping once its Secret is fixed', async () => {
    const good = issueServingCertificate(ca, ['mismatch.example.com']);
    await putSecret('mismatch-tls', good);
    await certificateCondition('mismatch.example.com', 'True');
    await until('the fixed certificate served', 20_000, async () =>
      (await presented(tlsPort, 'mismatch.example.com')) === fingerprint(good) ? true : undefined,
    );
  });

  it('serves the default wildcard Secret for the hosts it names, and for mapped domains it covers', async () => {
    // A service host, by the wildcard for the namespace.
    await until('the wildcard presented for a service host', 20_000, async () =>
      (await presented(tlsPort, 'hello.default.example.test')) === fingerprint(wildcard) ? true : undefined,
    );
    // A DomainMapping with no Secret of its own, covered by the wildcard: provisioned, https.
    expect((await api('POST', dmPath(), mapping('www.apps.example.test'))).status).toBe(201);
    await certificateCondition('www.apps.example.test', 'True');
    expect((await api('GET', dmPath('www.apps.example.test'))).json.status.url).toBe('https://www.apps.example.test');
    expect(await presented(tlsPort, 'www.apps.example.test')).toBe(fingerprint(wildcard));
    // One it does not cover: plain HTTP only (Knative's TLSNotEnabled), no certificate.
    expect((await api('POST', dmPath(), mapping('plain.example.org'))).status).toBe(201);
    await certificateCondition('plain.example.org', 'True', 'TLSNotEnabled');
    expect((await api('GET', dmPath('plain.example.org'))).json.status.url).toBe('http://plain.example.org');
    expect(await presented(tlsPort, 'plain.example.org')).toMatch(/^refused/);
    // A name it does not cover at all (one label deeper) gets no certificate either.
    expect(await presented(tlsPort, 'a.hello.default.example.test')).toMatch(/^refused/);
  });
});
