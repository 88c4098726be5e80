import { X509Certificate } from 'node:crypto';
import { createSecureContext, createServer, type SecureContext, type Server, type TLSSocket } from 'node:tls';
import { certificateProblem, issueServingCertificateAsync, type KeyPair } from '@skiff/http/tls/certificates';
import { normalizeHost } from '../routing/host.ts';
import type { RoutingTable } from '../routing/table.ts';

/**
 * Where the router's certificates come from: one interface, three sources (the local CA, issuing
 * on demand; Kubernetes TLS Secrets and ACME certificates, which the control plane puts in the
 * routing snapshot). The TLS listener asks each source in turn for the SNI host.
 */
export interface CertificateSource {
  /** The certificate (PEM chain and key) to present for `host` (lower case), if this source has one. */
  certificateFor(host: string): KeyPair | undefined | Promise<KeyPair | undefined>;
  /** Whether this source serves `host` now (no waiting): plain HTTP redirects only to such a host. */
  serves(host: string): boolean;
}

/** Modern TLS (Mozilla's "intermediate" list): TLS 1.3 suites, then ECDHE with AEAD ciphers for 1.2. */
export const tlsCiphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * ALPN's choice for a connection: `h2` when the client offers it (every revision is reached over
 * HTTP/2: the engine translates to HTTP/1.1 for those that speak it), else `http/1.1`. A client
 * that offers neither gets none (a fatal `no_application_protocol` alert, RFC 7301 §3.2).
 */
export function chooseAlpn(offered: readonly string[]): string | undefined {
  if (offered.includes('h2')) return 'h2';
  return offered.includes('http/1.1') ? 'http/1.1' : undefined;
}

/**
 * Certificates by host from a fixed list (the snapshot's): an exact name wins over a wildcard
 * (`*.example.com` covers one label, as RFC 6125 §6.4.3). An entry that cannot serve a host
 * (malformed, key not the certificate's, expired or not yet valid, not naming the host) is left
 * out and listed in `problems`: a client then gets no certificate, never a bad one. One that
 * expires while held stops being served at its expiry.
 */
export class CertificateTable implements CertificateSource {
  readonly #exact = new Map<string, Held>();
  readonly #wildcard = new Map<string, Held>();
  readonly #now: () => number;
  /** Entries refused, with why (for the log). */
  readonly problems: { host: string; problem: string }[] = [];

  constructor(
    entries: readonly { hosts: readonly string[]; cert: string; key: string }[] = [],
    now: () => number = Date.now,
  ) {
    this.#now = now;
    for (const e of entries) {
      const pair = { cert: e.cert, key: e.key };
      let notAfter = Number.NaN;
      for (const h of e.hosts) {
        const host = h.toLowerCase();
        const problem = certificateProblem(e.cert, e.key, host, new Date(now()));
        if (problem !== undefined) {
          this.problems.push({ host, problem });
          continue;
        }
        if (Number.isNaN(notAfter)) notAfter = new Date(new X509Certificate(e.cert).validTo).getTime();
        const held = { pair, notAfter };
        if (host.startsWith('*.')) this.#wildcard.set(host.slice(2), held);
        else this.#exact.set(host, held);
      }
    }
  }

  certificateFor(host: string): KeyPair | undefined {
    let held = this.#exact.get(host);
    if (held === undefined) {
      const dot = host.indexOf('.');
      held = dot < 0 ? undefined : this.#wildcard.get(host.slice(dot + 1));
    }
    return held !== undefined && held.notAfter > this.#now() ? held.pair : undefined;
  }

  serves(host: string): boolean {
    return this.certificateFor(host) !== undefined;
  }
}

interface Held {
  pair: KeyPair;
  notAfter: number;
}

/** The certificates in the routing snapshot the router holds now (TLS Secrets, ACME). */
export class SnapshotCertificates implements CertificateSource {
  readonly #core: { readonly table: RoutingTable };
  #version = Number.NaN;
  #table = new CertificateTable();

  readonly #log: (message: string) => void;

  constructor(core: { readonly table: RoutingTable }, log: (message: string) => void = () => {}) {
    this.#core = core;
    this.#log = log;
  }

  certificateFor(host: string): KeyPair | undefined {
    const table = this.#core.table;
    if (table.version !== this.#version) {
      this.#table = new CertificateTable(table.certificates);
      this.#version = table.version;
      for (const p of this.#table.problems) this.#log(`certificate for ${p.host} not served: ${p.problem}`);
    }
    return this.#table.certificateFor(host);
  }

  serves(host: string): boolean {
    return this.certificateFor(host) !== undefined;
  }
}

const day = 86_400_000;

/**
 * The local source: certificates the data dir's CA issues on demand, only for hosts `serves` says
 * the router serves (so a client cannot make it sign any name it sends), kept in memory and issued
 * again 30 days before they expire.
 */
export class LocalCaCertificates implements CertificateSource {
  readonly #ca: KeyPair;
  readonly #serves: (host: string) => boolean;
  readonly #issued = new Map<string, Promise<{ pair: KeyPair; renewAt: number } | undefined>>();
  readonly #now: () => number;

  constructor(ca: KeyPair, serves: (host: string) => boolean, now: () => number = Date.now) {
    this.#ca = ca;
    this.#serves = serves;
    this.#now = now;
  }

  /** Any host the router serves: a certificate is issued for it on its first handshake. */
  serves(host: string): boolean {
    return this.#serves(host);
  }

  async certificateFor(host: string): Promise<KeyPair | undefined> {
    if (!this.#serves(host)) return undefined;
    let entry = this.#issued.get(host);
    const held = entry === undefined ? undefined : await entry;
    if (held === undefined || held.renewAt <= this.#now()) {
      entry = issueServingCertificateAsync(this.#ca, [host], new Date(this.#now())).then(
        (pair) => ({ pair, renewAt: new Date(new X509Certificate(pair.cert).validTo).getTime() - 30 * day }),
        () => undefined,
      );
      this.#issued.set(host, entry);
    }
    return (await entry)?.pair;
  }
}

/**
 * The TLS side of the router: SNI picks the certificate from the sources (first that has one);
 * a host none has gets a handshake failure, never another host's certificate. Secure contexts are
 * made once per certificate and reused; a source that returns a new certificate (rotation) takes
 * effect on the next handshake while connections already open keep theirs. TLS 1.2 and newer only.
 */
export class TlsTerminator {
  sources: CertificateSource[];
  readonly #contexts = new Map<string, { pair: KeyPair; context: SecureContext }>();

  constructor(sources: CertificateSource[]) {
    this.sources = sources;
  }

  /** Whether a handshake for `host` (normalized) gets a certificate now. */
  serves(host: string): boolean {
    return this.sources.some((s) => s.serves(host));
  }

  /** The secure context for `servername`, or undefined when no source has a certificate for it. */
  async contextFor(servername: string): Promise<SecureContext | undefined> {
    const host = normalizeHost(servername);
    if (host === undefined) return undefined;
    for (const source of this.sources) {
      const pair = await source.certificateFor(host);
      if (pair !== undefined) return this.#context(host, pair);
    }
    return undefined;
  }

  #context(host: string, pair: KeyPair): SecureContext {
    const cached = this.#contexts.get(host);
    if (
      cached !== undefined &&
      (cached.pair === pair || (cached.pair.cert === pair.cert && cached.pair.key === pair.key))
    )
      return cached.context;
    const context = createSecureContext({
      cert: pair.cert,
      key: pair.key,
      minVersion: 'TLSv1.2',
      ciphers: tlsCiphers,
      honorCipherOrder: true,
    });
    this.#contexts.set(host, { pair, context });
    return context;
  }

  /**
   * A TLS server whose secure connections go to `onConnection` (the HTTP engine; `alpnProtocol`
   * says which protocol the handshake chose).
   */
  createServer(onConnection: (socket: TLSSocket) => void): Server {
    return createServer(
      {
        minVersion: 'TLSv1.2',
        ciphers: tlsCiphers,
        honorCipherOrder: true,
        // Called only when the client sends ALPN; one that sends none speaks HTTP/1.1.
        ALPNCallback: ({ protocols }) => chooseAlpn(protocols),
        allowHalfOpen: true,
        noDelay: true,
        SNICallback: (servername, cb) => {
          this.contextFor(servername).then(
            (context) =>
              context ? cb(null, context) : cb(new Error(`no certificate for ${JSON.stringify(servername)}`)),
            (error: unknown) => cb(error instanceof Error ? error : new Error(String(error))),
          );
        },
      },
      onConnection,
    );
  }
}
