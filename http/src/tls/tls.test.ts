import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureLocalPki, fetchTrusting, kubeconfigYaml, loadKubeconfig, pkiFiles } from './index.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'skiff-tls-'));

// Each test makes RSA keys (about a second of CPU each on a loaded 2-core machine).
describe('local CA and serving certificate', { timeout: 30_000 }, () => {
  it('makes a CA and a certificate openssl verifies for every loopback name, keys 0600', () => {
    const d = dir();
    ensureLocalPki(d, ['localhost', '127.0.0.1', '::1', 'api.example.test']);
    const f = pkiFiles(d);
    expect(statSync(f.caKey).mode & 0o777).toBe(0o600);
    expect(statSync(f.key).mode & 0o777).toBe(0o600);
    expect(execFileSync('openssl', ['verify', '-CAfile', f.caCert, f.cert]).toString()).toContain(': OK');
    const text = execFileSync('openssl', ['x509', '-in', f.cert, '-noout', '-ext', 'subjectAltName']).toString();
    for (const n of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'DNS:api.example.test']) {
      expect(text).toContain(n);
    }
  });

  it('keeps the CA across starts and issues a new certificate only when a name is missing', () => {
    const d = dir();
    const first = ensureLocalPki(d);
    const again = ensureLocalPki(d);
    expect(again.ca).toBe(first.ca);
    expect(again.serving.cert).toBe(first.serving.cert);
    const wider = ensureLocalPki(d, ['localhost', '127.0.0.1', '::1', 'skiff.internal']);
    expect(wider.ca).toBe(first.ca);
    expect(wider.serving.cert).not.toBe(first.serving.cert);
  });

  it('serves HTTPS that a client trusting the CA reaches and an ordinary client refuses', async () => {
    const pki = ensureLocalPki(dir());
    const server = createServer({ ...pki.serving }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const res = await fetchTrusting(pki.ca)(`https://${host}:${port}/`);
        expect(await res.text()).toBe('ok');
      }
      await expect(fetch(`https://127.0.0.1:${port}/`)).rejects.toThrow();
      const other = ensureLocalPki(dir());
      await expect(fetchTrusting(other.ca)(`https://127.0.0.1:${port}/`)).rejects.toThrow();
    } finally {
      server.close();
    }
  });
});

describe('kubeconfig', () => {
  it('reads back what it writes: server, CA, token, namespace', () => {
    const d = dir();
    const file = join(d, 'kubeconfig');
    writeFileSync(file, kubeconfigYaml({ server: 'https://127.0.0.1:8090', ca: 'PEM', token: 't0k' }));
    expect(loadKubeconfig({ fallback: file })).toEqual({
      server: 'https://127.0.0.1:8090',
      ca: 'PEM',
      token: 't0k',
      namespace: 'default',
      source: file,
    });
  });

  it('merges KUBECONFIG files like kubectl (first wins) and resolves relative paths per file', () => {
    const d = dir();
    writeFileSync(join(d, 'ca.pem'), 'CA-FROM-FILE');
    writeFileSync(join(d, 'tok'), 'from-file\n');
    writeFileSync(
      join(d, 'a'),
      'current-context: other\nclusters:\n- name: c\n  cluster: {server: "https://a:1", certificate-authority: ca.pem}\n',
    );
    writeFileSync(
      join(d, 'b'),
      [
        'current-context: ignored',
        'clusters:',
        '- name: c',
        '  cluster: {server: "https://b:2"}',
        'users:',
        '- name: u',
        '  user: {tokenFile: tok}',
        'contexts:',
        '- name: other',
        '  context: {cluster: c, user: u, namespace: team}',
      ].join('\n'),
    );
    const cfg = loadKubeconfig({ env: `${join(d, 'a')}:${join(d, 'missing')}:${join(d, 'b')}`, fallback: 'x' });
    expect(cfg).toMatchObject({ server: 'https://a:1', ca: 'CA-FROM-FILE', token: 'from-file', namespace: 'team' });
  });

  it('says which file is missing', () => {
    expect(() => loadKubeconfig({ file: '/nonexistent/kc', fallback: 'x' })).toThrow(
      /no kubeconfig at \/nonexistent\/kc/,
    );
  });
});
