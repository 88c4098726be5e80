import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appService, type Platform, ready, servicePath, startPlatform } from '../helpers/platform.ts';
import { freePort, stopAll, waitFor } from '../helpers/processes.ts';

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

  const json = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
  const dmPath = (ns = 'default', name = '') =>
    `/apis/serving.knative.dev/v1beta1/namespaces/${ns}/domainmappings${name ? `/${name}` : ''}`;
  const https = (host: string, extra: string[] = []) =>
    run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      join(p.dataDir, 'ca.crt'),
      '--resolve',
      `${host}:${tlsPort}:127.0.0.1`,
      ...extra,
      `https://${host}:${tlsPort}/`,
    ]);
  const conditions = (dm: any) =>
    Object.fromEntries(
      (dm.status?.conditions ?? []).map((c: { type: string; status: string; reason?: string }) => [
        c.type,
        `${c.status}${c.reason ? `/${c.reason}` : ''}`,
      ]),
    );

  it('maps a custom domain to a service with skiff domain create: served over HTTPS with a local-CA certificate, Ready', async () => {
    const env = { KUBECONFIG: join(p.dataDir, 'kubeconfig') };
    const created = await run(
      process.execPath,
      [cli, 'domain', 'create', 'shop.example.test', '--service', 'hello'],
      env,
    );
    expect(created).toEqual({
      code: 0,
      out: "Domain mapping 'shop.example.test' created in namespace 'default' (to service 'hello').\n",
    });
    await waitFor(async () => (await https('shop.example.test')).code === 0, 15_000, 'the mapped domain over HTTPS');
    expect(await https('shop.example.test')).toEqual({ code: 0, out: 'Hello World!\n' });
    // Plain HTTP reaches it too (http-protocol enabled by default).
    expect(await (await p.get('shop.example.test')).text()).toBe('Hello World!\n');
    const dm = await json(p.api('GET', dmPath('default', 'shop.example.test')));
    expect(dm.status.url).toBe('https://shop.example.test');
    expect(conditions(dm)).toEqual({
      Ready: 'True',
      DomainClaimed: 'True',
      ReferenceResolved: 'True',
      CertificateProvisioned: 'True/LocalCA',
      IngressReady: 'True',
    });
    const list = await run(process.execPath, [cli, 'domain', 'list'], env);
    expect(list.out).toMatch(/shop\.example\.test\s+https:\/\/shop\.example\.test\s+hello\s+\S+\s+True/);
    // Discovery names the resource, as kube-apiserver would for Knative's CRD.
    const discovery = await json(p.api('GET', '/apis/serving.knative.dev/v1beta1'));
    expect(discovery.resources.map((r: { name: string }) => r.name)).toEqual(['domainmappings']);
  });

  it('claims a domain once: the same domain in another namespace is DomainClaimed False and not routed there', async () => {
    const body = (ns: string, service = 'hello') => ({
      apiVersion: 'serving.knative.dev/v1beta1',
      kind: 'DomainMapping',
      metadata: { name: 'claimed.example.test', namespace: ns },
      spec: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: service } },
    });
    expect((await p.api('POST', dmPath('default'), body('default'))).status).toBe(201);
    const second = await p.api('POST', dmPath('other'), body('other', 'elsewhere'));
    expect(second.status).toBe(201);
    await waitFor(
      async () => conditions(await json(p.api('GET', dmPath('other', 'claimed.example.test')))).Ready !== undefined,
      10_000,
      'the second mapping’s status',
    );
    const other = conditions(await json(p.api('GET', dmPath('other', 'claimed.example.test'))));
    expect(other.DomainClaimed).toBe('False/DomainAlreadyClaimed');
    expect(other.Ready).toBe('False/DomainAlreadyClaimed');
    await waitFor(async () => (await https('claimed.example.test')).code === 0, 15_000, 'the first claim served');
    expect((await https('claimed.example.test')).out).toBe('Hello World!\n');
    // The same namespace twice: AlreadyExists.
    const again = await p.api('POST', dmPath('default'), body('default'));
    expect(again.status).toBe(409);
    expect((await json(again)).reason).toBe('AlreadyExists');
  });

  it('refuses a malformed DomainMapping with field paths, and never serves one whose TLS Secret it cannot use', async () => {
    const bad = await p.api('POST', dmPath('default'), {
      apiVersion: 'serving.knative.dev/v1beta1',
      kind: 'DomainMapping',
      metadata: { name: 'nodots' },
      spec: { ref: { apiVersion: 'v1', kind: 'Pod', name: 'hello' }, tls: {} },
    });
    expect(bad.status).toBe(422);
    const status = await json(bad);
    expect(status.kind).toBe('Status');
    expect(status.details.causes.map((c: { field: string }) => c.field).sort()).toEqual([
      'metadata.name',
      // v1 is a Kubernetes Service's group (a tag's {tag}-{service}); a Pod is not addressable.
      'spec.ref.kind',
      'spec.tls.secretName',
    ]);
    const secret = await p.api('POST', dmPath('default'), {
      apiVersion: 'serving.knative.dev/v1beta1',
      kind: 'DomainMapping',
      metadata: { name: 'secret.example.test' },
      spec: {
        ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'hello' },
        tls: { secretName: 'shop-tls' },
      },
    });
    expect(secret.status).toBe(201);
    await waitFor(
      async () => conditions(await json(p.api('GET', dmPath('default', 'secret.example.test')))).Ready !== undefined,
      10_000,
      'its status',
    );
    const c = conditions(await json(p.api('GET', dmPath('default', 'secret.example.test'))));
    expect(c.CertificateProvisioned).toBe('False/SecretsUnavailable');
    expect(c.Ready).toBe('False/SecretsUnavailable');
    expect((await https('secret.example.test')).code).not.toBe(0);
    expect((await p.get('secret.example.test')).status).toBe(404);
  });

  it('applies the http-protocol annotation: redirected sends plain HTTP to HTTPS, and HSTS over HTTPS', async () => {
    const bad = await p.api('PATCH', servicePath('hello'), {
      metadata: { annotations: { 'networking.knative.dev/http-protocol': 'sometimes' } },
    });
    expect(bad.status).toBe(422);
    expect((await json(bad)).details.causes[0].field).toBe(
      'metadata.annotations[networking.knative.dev/http-protocol]',
    );
    const ok = await p.api('PATCH', servicePath('hello'), {
      metadata: { annotations: { 'networking.knative.dev/http-protocol': 'redirected' } },
    });
    expect(ok.status).toBe(200);
    await waitFor(
      async () => (await p.get('shop.example.test', '/x?y=1', { redirect: 'manual' })).status === 301,
      10_000,
      'the redirect',
    );
    const r = await p.get('shop.example.test', '/x?y=1', { redirect: 'manual' });
    expect(r.headers.get('location')).toBe(`https://shop.example.test:${tlsPort}/x?y=1`);
    const h = await https('shop.example.test', ['-i']);
    expect(h.out.toLowerCase()).toContain('strict-transport-security: max-age=31536000');
  });

  it('stops serving a domain when its mapping is deleted', async () => {
    const env = { KUBECONFIG: join(p.dataDir, 'kubeconfig') };
    const deleted = await run(process.execPath, [cli, 'domain', 'delete', 'claimed.example.test'], env);
    expect(deleted.code).toBe(0);
    await waitFor(async () => (await p.get('claimed.example.test')).status === 404, 10_000, 'the domain unrouted');
    expect((await https('claimed.example.test')).code).not.toBe(0);
  });

  it('maps a domain to a tag of a Service (its {tag}-{service} Kubernetes Service, as Knative), and watches mappings', async () => {
    // A watch on domainmappings from now on (as kubectl get domainmapping -w): it sees what follows.
    const controller = new AbortController();
    const watch = await p.fetch(`${p.apiUrl}${dmPath()}?watch=true`, {
      headers: { authorization: 'Bearer platform-token' },
      signal: controller.signal,
    });
    expect(watch.status).toBe(200);
    let seen = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of watch.body as unknown as AsyncIterable<Uint8Array>) seen += decoder.decode(chunk);
    })().catch(() => {});

    expect((await p.api('POST', servicePath(), appService('tagged', {}, { TARGET: 'one' }))).status).toBe(201);
    await ready(p, 'tagged', 60_000);
    const two = appService('tagged', {}, { TARGET: 'two' }) as any;
    two.spec.traffic = [
      { latestRevision: true, percent: 100 },
      { revisionName: 'tagged-00001', percent: 0, tag: 'old' },
    ];
    expect((await p.api('PUT', servicePath('tagged'), { ...two, metadata: { name: 'tagged' } })).status).toBe(200);
    await waitFor(
      async () =>
        (await p.get('tagged.default.localhost')).status === 200 &&
        (await (await p.get('tagged.default.localhost')).text()) === 'Hello two!\n',
      60_000,
      'tagged-00002 serving',
    );
    const map = (domain: string, ref: Record<string, string>) =>
      p.api('POST', dmPath(), {
        apiVersion: 'serving.knative.dev/v1beta1',
        kind: 'DomainMapping',
        metadata: { name: domain },
        spec: { ref },
      });
    expect((await map('old.example.test', { apiVersion: 'v1', kind: 'Service', name: 'old-tagged' })).status).toBe(201);
    expect(
      (await map('all.example.test', { apiVersion: 'serving.knative.dev/v1', kind: 'Route', name: 'tagged' })).status,
    ).toBe(201);
    expect((await map('nope.example.test', { apiVersion: 'v1', kind: 'Service', name: 'beta-tagged' })).status).toBe(
      201,
    );
    // The tag's domain reaches the tagged revision alone; the Route's the split (all to the latest).
    await waitFor(async () => (await p.get('old.example.test')).status === 200, 10_000, 'the tag domain routed');
    expect(await (await p.get('old.example.test')).text()).toBe('Hello one!\n');
    expect(await (await p.get('all.example.test')).text()).toBe('Hello two!\n');
    expect((await https('old.example.test')).out).toBe('Hello one!\n');
    const old = await json(p.api('GET', dmPath('default', 'old.example.test')));
    expect(conditions(old).Ready).toBe('True');
    // A tag that does not exist: not resolved, not routed.
    const nope = await json(p.api('GET', dmPath('default', 'nope.example.test')));
    expect(conditions(nope).ReferenceResolved).toBe('False/ResolveFailed');
    expect(nope.status.conditions.find((c: { type: string }) => c.type === 'ReferenceResolved').message).toContain(
      'services "beta-tagged" not found in namespace default',
    );
    expect((await p.get('nope.example.test')).status).toBe(404);
    // The tag made later: the mapping resolves and is served without being touched.
    const three = structuredClone(two);
    three.spec.traffic.push({ revisionName: 'tagged-00002', percent: 0, tag: 'beta' });
    expect((await p.api('PUT', servicePath('tagged'), { ...three, metadata: { name: 'tagged' } })).status).toBe(200);
    await waitFor(async () => (await p.get('nope.example.test')).status === 200, 10_000, 'the new tag’s domain routed');
    expect(await (await p.get('nope.example.test')).text()).toBe('Hello two!\n');

    // The watch saw each mapping added and its status written.
    await waitFor(() => /"type":"MODIFIED".*"name":"nope\.example\.test"/.test(seen), 10_000, 'watch events');
    const events = seen
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; object: { kind: string; metadata: { name: string } } });
    expect(events.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name)).toEqual(
      expect.arrayContaining(['old.example.test', 'all.example.test', 'nope.example.test']),
    );
    expect(events.every((e) => e.object.kind === 'DomainMapping')).toBe(true);
    controller.abort();
    await reading;
  });
});

// Knative's platform-wide `http-protocol` (config-network): `skiff up --http-protocol`, which a
// Service's own annotation overrides.
describe('skiff up --tls --http-protocol redirected', () => {
  let p: Platform;
  let tlsPort: number;

  beforeAll(async () => {
    tlsPort = await freePort();
    p = await startPlatform(undefined, undefined, ['--tls', '--http-protocol', 'redirected'], {
      SKIFF_ROUTER_TLS_PORT: String(tlsPort),
    });
    await ready(p, 'hello', 60_000);
  }, 90_000);

  afterAll(async () => {
    await stopAll();
  });

  it('sends plain HTTP for every Service to HTTPS, and serves it there with HSTS', async () => {
    const r = await p.get('hello.default.localhost', '/a?b=1');
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe(`https://hello.default.localhost:${tlsPort}/a?b=1`);
    const h = await run('curl', [
      '-sS',
      '-i',
      '--cacert',
      join(p.dataDir, 'ca.crt'),
      '--resolve',
      `hello.default.localhost:${tlsPort}:127.0.0.1`,
      `https://hello.default.localhost:${tlsPort}/`,
    ]);
    expect(h.code).toBe(0);
    expect(h.out.toLowerCase()).toContain('strict-transport-security: max-age=31536000');
    expect(h.out).toContain('Hello World!');
  });

  it("lets a Service's annotation override it: enabled serves plain HTTP again", async () => {
    const ok = await p.api('PATCH', servicePath('hello'), {
      metadata: { annotations: { 'networking.knative.dev/http-protocol': 'enabled' } },
    });
    expect(ok.status).toBe(200);
    await waitFor(async () => (await p.get('hello.default.localhost')).status === 200, 10_000, 'plain HTTP served');
    expect(await (await p.get('hello.default.localhost')).text()).toBe('Hello World!\n');
  });

  it('refuses redirected or disabled without --tls, before starting anything', async () => {
    const out = await run(process.execPath, [cli, 'up', '--http-protocol', 'disabled'], {
      SKIFF_DATA_DIR: join(p.dataDir, 'never'),
    });
    expect(out.code).not.toBe(0);
    expect(out.out).toContain('up: http-protocol disabled needs --tls');
  });
});
