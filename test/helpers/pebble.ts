import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { freePorts, type Proc, repoRoot, start } from './processes.ts';

// Let's Encrypt's test ACME server, pebble, and its DNS companion pebble-challtestsrv (answering
// every name with 127.0.0.1, so pebble's HTTP-01 validation reaches the router on loopback), built
// by scripts/pebble/build.sh from the Go module proxy into ~/.cache/skiff/tools.

const buildScript = join(repoRoot, 'scripts/pebble/build.sh');

export function pebbleAvailability(): { ok: true; dir: string } | { ok: false; reason: string } {
  const found = spawnSync('bash', [buildScript, '--print-dir'], { encoding: 'utf8' });
  const dir = found.stdout.trim();
  if (found.status === 0 && dir !== '') return { ok: true, dir };
  const hasGo = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
  return {
    ok: false,
    reason: hasGo
      ? 'pebble is not built yet: run scripts/pebble/build.sh (seconds; .ci/run does it)'
      : 'Go is not installed, so pebble cannot be built: install Go >= 1.25 and run scripts/pebble/build.sh',
  };
}

/** describe() for suites on pebble: skips with the reason when it is not built, fails under CI=true. */
export const describePebble = (name: string, fn: () => void): void => {
  const availability = pebbleAvailability();
  if (availability.ok) {
    describe(name, fn);
    return;
  }
  const { reason } = availability;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has pebble built (CI=true: a skip is a failure)', () => {
        throw new Error(`cannot run the ACME suite: ${reason}`);
      });
    });
    return;
  }
  console.warn(`Skipped the ACME suite "${name}": ${reason}`);
  describe.skip(`${name} (skipped: ${reason})`, fn);
};

export interface Pebble {
  /** The ACME directory URL. */
  directory: string;
  /** The CA of pebble's own HTTPS (its test minica): `--acme-ca`. */
  minicaFile: string;
  /** The root that signs the certificates pebble issues (PEM, from its management port). */
  issuingRoot(): Promise<string>;
  /** Points a name at an address in pebble's DNS (challtestsrv's `add-a`), or back to 127.0.0.1. */
  setAddress(host: string, address: string | undefined): Promise<void>;
  /**
   * With `rateLimitFront`: new orders for `domain` are answered as Let's Encrypt answers one over
   * its rate limits (429, `rateLimited` problem, Retry-After) until `retryAfterSeconds` is
   * undefined again; `refused` lists when each was refused (ms since the epoch).
   */
  rateLimit(domain: string, retryAfterSeconds: number | undefined): void;
  refused: Map<string, number[]>;
  procs: Proc[];
  close(): Promise<void>;
}

/**
 * pebble has no rate limits (its source: only nonce rejection, authorization reuse and a domain
 * blocklist), so a test that needs one puts this in front of it on loopback: it passes every
 * request through unchanged (pebble builds its URLs from the Host header, which it keeps, so JWS
 * `url`s still match) and answers newOrder for a limited domain as Let's Encrypt's Boulder does.
 */
async function startRateLimitFront(
  dir: string,
  pebblePort: number,
  minica: string,
): Promise<{ port: number; limits: Map<string, number>; refused: Map<string, number[]>; close(): Promise<void> }> {
  const limits = new Map<string, number>();
  const refused = new Map<string, number[]>();
  const server = createServer(
    {
      cert: readFileSync(join(dir, 'certs/localhost/cert.pem')),
      key: readFileSync(join(dir, 'certs/localhost/key.pem')),
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.method === 'POST' && req.url === '/order-plz') {
          const jws = JSON.parse(body.toString()) as { payload: string };
          const order = JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as {
            identifiers: { value: string }[];
          };
          const limited = order.identifiers.find((i) => limits.has(i.value));
          if (limited) {
            const after = limits.get(limited.value) as number;
            refused.set(limited.value, [...(refused.get(limited.value) ?? []), Date.now()]);
            res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': String(after) });
            res.end(
              JSON.stringify({
                type: 'urn:ietf:params:acme:error:rateLimited',
                detail: `too many new orders (300) for ${limited.value} in the last 3h0m0s, retry after ${after} s`,
                status: 429,
              }),
            );
            return;
          }
        }
        const upstream = request(
          { host: '127.0.0.1', port: pebblePort, path: req.url, method: req.method, headers: req.headers, ca: minica },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', (e) => res.writeHead(502).end(e.message));
        upstream.end(body);
      });
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  return {
    port,
    limits,
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function call(url: string, ca: string, method = 'GET', body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, timeout: 5_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(text) : reject(new Error(`${url}: ${res.statusCode} ${text}`)),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Starts challtestsrv and pebble on loopback: HTTP-01 validation on `httpPort` (the router's
 * plain HTTP port), certificates valid for `validitySeconds`, real validation (PEBBLE_VA_ALWAYS_VALID
 * off), no random validation delays (PEBBLE_VA_NOSLEEP), 5% of nonces rejected as pebble does.
 */
export async function startPebble(
  dir: string,
  httpPort: number,
  validitySeconds = 90 * 86_400,
  options: { rateLimitFront?: boolean } = {},
): Promise<Pebble> {
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort, tlsPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const work = mkdtempSync(join(tmpdir(), 'skiff-pebble-'));
  const minicaFile = join(dir, 'certs/pebble.minica.pem');
  const config = join(work, 'pebble-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: join(dir, 'certs/localhost/cert.pem'),
        privateKey: join(dir, 'certs/localhost/key.pem'),
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        retryAfter: { authz: 1, order: 1 },
        keyAlgorithm: 'ecdsa',
        // Orders for these are refused (rejectedIdentifier), as a CA's policy refuses a name.
        domainBlocklist: ['blocked.example.test'],
        profiles: { default: { description: 'skiff tests', validityPeriod: validitySeconds } },
      },
    }),
  );
  const dns = await start(
    join(dir, 'bin/pebble-challtestsrv'),
    [
      '-dnsserver',
      `127.0.0.1:${dnsPort}`,
      '-management',
      `127.0.0.1:${dnsMgmtPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-doh',
      '',
      '-tlsalpn01',
      '',
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
    ],
    {},
    /Starting management server/,
  );
  const pebble = await start(
    join(dir, 'bin/pebble'),
    ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`],
    { PEBBLE_VA_NOSLEEP: '1', PEBBLE_VA_ALWAYS_VALID: '0' },
    /ACME directory available at/,
  );
  const minica = readFileSync(minicaFile, 'utf8');
  const front = options.rateLimitFront ? await startRateLimitFront(dir, acmePort, minica) : undefined;
  return {
    directory: `https://127.0.0.1:${front ? front.port : acmePort}/dir`,
    minicaFile,
    issuingRoot: () => call(`https://127.0.0.1:${mgmtPort}/roots/0`, minica),
    async setAddress(host, address) {
      const dnsUrl = `http://127.0.0.1:${dnsMgmtPort}`;
      const body = address ? { host: `${host}.`, addresses: [address] } : { host: `${host}.` };
      const res = await fetch(`${dnsUrl}/${address ? 'add-a' : 'clear-a'}`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      if (res.status !== 200) throw new Error(`challtestsrv: ${res.status} ${await res.text()}`);
    },
    rateLimit(domain, retryAfterSeconds) {
      if (!front) throw new Error('startPebble(..., { rateLimitFront: true }) for rate limits');
      if (retryAfterSeconds === undefined) front.limits.delete(domain);
      else front.limits.set(domain, retryAfterSeconds);
    },
    refused: front?.refused ?? new Map(),
    procs: [dns, pebble],
    close: async () => {
      await front?.close();
    },
  };
}
