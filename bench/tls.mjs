#!/usr/bin/env node
// Benchmark: TLS at the edge — the edge router (Node) against nginx, both terminating TLS with the
// same certificate (RSA 2048), the same protocols (TLS 1.2 and 1.3) and the same cipher list, in
// front of the same app, in one run, targets interleaved within each round.
//
//   node bench/tls.mjs [--rounds 5] [--seconds 5] [--connections 50] [--only keep-alive] [--cpu-prof DIR]
//
// Needs wrk, nginx and openssl (Debian: apt-get install wrk nginx openssl). Everything runs on
// loopback. Three loads, each server with resumption on (nginx: shared session cache and tickets;
// the router: Node's session tickets):
//   - keep-alive: HTTPS requests on `connections` kept-alive connections (wrk; req/s);
//   - new connection per request: wrk with `Connection: close`; wrk keeps the session of its
//     previous connection, so these are mostly resumed handshakes (the script counts them on nginx
//     with $ssl_session_reused and prints it);
//   - full handshakes: a Node client (in its own process, 8 at a time) that offers no session,
//     so every handshake is a full one (ECDHE + RSA 2048 signature), connecting and closing.
// Prints medians over rounds and the per-round ratios against nginx, and the bars of issue 15:
// HTTPS keep-alive req/s >= 0.6x nginx, full handshakes/s >= 0.5x nginx.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, machine, median, need, start, waitForPort, wrk } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    // Profile the router (node --cpu-prof into DIR, written when it stops at the end).
    'cpu-prof': { type: 'string' },
    // Run the loads whose name contains this (e.g. keep-alive) only.
    only: { type: 'string' },
  },
});
need('wrk', 'apt-get install wrk');
need('nginx', 'apt-get install nginx');
need('openssl', 'apt-get install openssl');
const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(opts.rounds);
const seconds = Number(opts.seconds);
const connections = Number(opts.connections);
const token = 'bench-router-token';
const host = 'localhost'; // resolves to loopback without --resolve; wrk sends it as SNI and Host
const work = mkdtempSync(join(tmpdir(), 'skiff-bench-tls-'));

// The same ciphers the router uses (edge-router/src/node/tls.ts: Mozilla's intermediate list).
const ciphers12 = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

// One certificate for both servers: a CA and a leaf for `localhost`, RSA 2048, as the local CA makes.
const certFile = join(work, 'cert.pem');
const keyFile = join(work, 'key.pem');
execFileSync('openssl', [
  'req',
  '-x509',
  '-newkey',
  'rsa:2048',
  '-nodes',
  '-days',
  '30',
  '-subj',
  `/CN=${host}`,
  '-addext',
  `subjectAltName=DNS:${host}`,
  '-keyout',
  keyFile,
  '-out',
  certFile,
]);
const cert = readFileSync(certFile, 'utf8');
const key = readFileSync(keyFile, 'utf8');

// The router as it ships: one bundled file.
execFileSync(process.execPath, ['../scripts/bundle.mjs', 'src/entry/node.ts', 'dist/main.js'], {
  cwd: `${root}edge-router`,
  stdio: 'inherit',
});

const appPort = await freePort();
await start(process.execPath, [`${root}test/apps/app.mjs`], { PORT: String(appPort) }, /app listening/);

// nginx, one worker (the router is one process), TLS with the same certificate and ciphers,
// resumption on (session cache and tickets), keep-alive to the app.
const nginxPort = await freePort();
const nginxPlainPort = await freePort();
const nginxLog = join(work, 'access.log');
writeFileSync(
  join(work, 'nginx.conf'),
  `worker_processes 1;
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/error.log warn;
events { worker_connections 4096; }
http {
  log_format reused '$ssl_session_reused';
  access_log off;
  upstream app { server 127.0.0.1:${appPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    listen 127.0.0.1:${nginxPlainPort};
    server_name ${host};
    ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${ciphers12};
    ssl_prefer_server_ciphers on;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    location /reused { access_log ${nginxLog} reused; proxy_pass http://app/; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
    }
  }
}
`,
);
const nginxProcess = await start('nginx', ['-c', join(work, 'nginx.conf'), '-p', work], {}, null);
await waitForPort(nginxPlainPort);

// A stand-in control plane in its own process (wrk blocks this one): one fixed snapshot with the
// service at `localhost` and its certificate.
const snapshot = {
  version: 1,
  generatedAt: new Date().toISOString(),
  routes: [
    {
      namespace: 'default',
      name: 'hello',
      visibility: 'public',
      hosts: [host, 'hello.default.example.com'],
      traffic: [{ revisionName: 'hello-00001', percent: 100 }],
    },
  ],
  revisions: [
    {
      namespace: 'default',
      name: 'hello-00001',
      service: 'hello',
      containerConcurrency: 0,
      timeoutSeconds: 300,
      endpoints: [{ pod: 'hello-00001-pod', url: `http://127.0.0.1:${appPort}` }],
    },
  ],
  certificates: [{ hosts: [host], cert, key }],
};
const snapshotFile = join(work, 'snapshot.json');
writeFileSync(snapshotFile, JSON.stringify(snapshot));
writeFileSync(
  join(work, 'control-plane.mjs'),
  `import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
const body = readFileSync(process.argv[2]);
createServer((req, res) => {
  if (req.headers.authorization !== 'Bearer ${token}') return res.writeHead(401).end();
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/internal/v1/routing') {
    if (url.searchParams.has('since')) return setTimeout(() => res.writeHead(304).end(), 1000 * Number(url.searchParams.get('waitSeconds')));
    return res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
  req.resume();
  req.on('end', () => res.writeHead(204).end());
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('control plane listening'));
`,
);
const cpPort = await freePort();
await start(process.execPath, [join(work, 'control-plane.mjs'), snapshotFile], { PORT: String(cpPort) }, /listening/);
const routerPort = await freePort();
const routerTlsPort = await freePort();
const routerProcess = await start(
  process.execPath,
  [...(opts['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', opts['cpu-prof']] : []), `${root}edge-router/dist/main.js`],
  {
    PORT: String(routerPort),
    SKIFF_ROUTER_TLS_PORT: String(routerTlsPort),
    SKIFF_ROUTER_HOST: '127.0.0.1',
    SKIFF_CONTROL_PLANE_URL: `http://127.0.0.1:${cpPort}`,
    SKIFF_ROUTER_TOKEN: token,
  },
  /serving TLS/,
);

const targets = [
  { name: 'nginx (1 worker, TLS) → app', port: nginxPort, plainPort: nginxPlainPort },
  { name: 'router (node, TLS) → app', port: routerTlsPort, plainPort: routerPort },
];
const loads = [
  { name: 'HTTPS keep-alive req/s', headers: [], bar: 0.6 },
  { name: 'full TLS handshakes/s (no session offered)', full: true, bar: 0.5 },
  { name: 'HTTPS req/s, new connection per request (wrk resumes)', headers: ['-H', 'Connection: close'] },
  // For reference: the same servers over plain HTTP, to tell TLS's cost from the proxy's.
  { name: 'plain HTTP keep-alive req/s (reference)', headers: [], plain: true },
].filter((l) => opts.only === undefined || l.name.includes(opts.only));

// The full-handshake client: its own process (this one blocks on wrk), N connections at a time.
const handshakeClient = join(work, 'handshakes.mjs');
writeFileSync(
  handshakeClient,
  `import { connect } from 'node:tls';
const [port, seconds] = process.argv.slice(2).map(Number);
const end = Date.now() + seconds * 1000;
let done = 0;
let failed = 0;
const one = () => new Promise((resolve) => {
  const s = connect({ host: '127.0.0.1', port, servername: '${host}', rejectUnauthorized: false }, () => { done++; s.destroy(); resolve(); });
  s.on('error', () => { failed++; resolve(); });
});
await Promise.all(Array.from({ length: 8 }, async () => { while (Date.now() < end) await one(); }));
console.log(JSON.stringify({ rate: done / seconds, failed }));
`,
);

function run(t, load, secs) {
  if (load.full) {
    const r = JSON.parse(
      execFileSync(process.execPath, [handshakeClient, String(t.port), String(secs)], { encoding: 'utf8' }),
    );
    if (r.failed > 0) console.error(`${t.name}, ${load.name}: ${r.failed} failed handshakes`);
    return r.rate;
  }
  const out = execFileSync(
    'wrk',
    [
      '-t1',
      `-c${connections}`,
      `-d${secs}s`,
      ...load.headers,
      load.plain ? `http://${host}:${t.plainPort}/` : `https://${host}:${t.port}/`,
    ],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  if (non2xx > 0 || (socketErrors && !load.headers.length)) {
    console.error(`${t.name}, ${load.name}: ${non2xx} non-2xx, socket errors: ${socketErrors ?? 'none'}`);
  }
  return rps;
}

// Check, on nginx, that wrk's new connections are full handshakes (no session resumed).
execFileSync('wrk', ['-t1', '-c4', '-d1s', '-H', 'Connection: close', `https://${host}:${nginxPort}/reused`]);
const reusedLog = readFileSync(nginxLog, 'utf8').split('\n').filter(Boolean);
const resumed = reusedLog.filter((l) => l === 'r').length; // wrk keeps its last session
console.log(`machine: ${machine()}`);
console.log(
  `check: ${reusedLog.length} new connections from wrk to nginx, ${resumed} resumed a session (full handshakes: ${reusedLog.length - resumed})`,
);
console.log(
  `load: wrk -t1 -c${connections} -d${seconds}s, ${rounds} rounds, GET / (13-byte body) at https://${host}:<port>/\n`,
);

const warm = wrk; // lib's wrk: a 1-second warm-up of each target
for (const t of targets) warm(`https://${host}:${t.port}/`, { seconds: 1, connections });
const results = new Map();
for (const load of loads) for (const t of targets) results.set(`${load.name}|${t.name}`, []);
for (let r = 0; r < rounds; r++) {
  for (const load of loads) {
    const order = r % 2 ? [...targets].reverse() : targets;
    for (const t of order) results.get(`${load.name}|${t.name}`).push(run(t, load, seconds));
  }
  process.stdout.write(`round ${r + 1}/${rounds} done\n`);
}

console.log('\n| load | nginx (median) | router (median) | router vs nginx (median of per-round ratios) | bar |');
console.log('|---|---:|---:|---:|---|');
const verdicts = [];
for (const load of loads) {
  const n = results.get(`${load.name}|${targets[0].name}`);
  const s = results.get(`${load.name}|${targets[1].name}`);
  const ratio = median(s.map((v, i) => v / n[i]));
  if (load.bar !== undefined) {
    verdicts.push(
      `${load.name} >= ${load.bar}x nginx: ${ratio >= load.bar ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`,
    );
  }
  console.log(
    `| ${load.name} | ${median(n).toFixed(0)} | ${median(s).toFixed(0)} | ${ratio.toFixed(2)}× | ${load.bar === undefined ? '–' : `≥ ${load.bar}×`} |`,
  );
}
console.log('');
for (const v of verdicts) console.log(`requirement (${v.split(': ')[0]}): ${v.split(': ')[1]}`);
// The router stops by itself so that a --cpu-prof profile is written.
await new Promise((resolve) => {
  routerProcess.once('exit', resolve);
  routerProcess.kill('SIGTERM');
});
// A graceful stop: nginx's workers outlive a SIGKILL of their master.
await new Promise((resolve) => {
  nginxProcess.once('exit', resolve);
  nginxProcess.kill('SIGQUIT');
});
process.exit(0);
