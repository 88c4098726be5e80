#!/usr/bin/env node
// The stat simulator: one process that impersonates the queue-proxies of thousands of replicas,
// so the autoscaler can be driven at 10,000 revisions on one machine (issue 18). It speaks the
// queue-proxies' own protocols: it pushes each replica's 1 s `Stat` as a line on a stats stream
// (`POST /internal/v1/stats`, newline-delimited JSON, the router token), or serves each replica's
// `Stat` for a scrape (`GET /<namespace>/<revision>/<pod>/stats`).
//
//   node test/helpers/stat-simulator.mjs --revisions 10000 [--namespace default]
//     [--name svc-{i}-00001] [--pod {revision}-{r}] [--replicas 1-3]
//     [--load 1] [--wave] [--mode push|scrape] [--url https://…] [--token T] [--ca ca.crt]
//     [--connections 100] [--ports 1] [--clock real|manual]
//
// Revision i is named after --name ({i} replaced) and has 1 + i mod 3 replicas with --replicas
// 1-3 (or exactly n with --replicas n). Each revision carries --load concurrent requests in all,
// shared evenly by its replicas (10 requests per second per unit); --wave varies it per revision
// and second (load × (1 + sin(second / 5 + i))), the same in both modes.
//
// Lines on stdin: `load <revision> <concurrency>` sets one revision's load from the next second;
// with --clock manual, `tick <unix ms>` is one second ending at that time: in push mode every
// replica's stat is written (answered `{"ticked":ms}` once all are flushed), in scrape mode the
// stats served from then on. With --clock real, a push each second on the wall clock.
// Scrape mode listens on --ports ports (replica r of revision i on ports[(i + r) mod ports], as
// replicas each have their own, so a client's per-origin socket limit is not the simulator's).
// Stdout: one JSON line when ready ({"ready":true,"replicas":n,"ports":[…]}), then answers.
import { readFileSync } from 'node:fs';
import { createServer, Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    revisions: { type: 'string', default: '10' },
    namespace: { type: 'string', default: 'default' },
    name: { type: 'string', default: 'svc-{i}-00001' },
    pod: { type: 'string', default: '{revision}-{r}' },
    replicas: { type: 'string', default: '1-3' },
    load: { type: 'string', default: '1' },
    wave: { type: 'boolean', default: false },
    mode: { type: 'string', default: 'push' },
    url: { type: 'string' },
    token: { type: 'string' },
    ca: { type: 'string' },
    connections: { type: 'string', default: '100' },
    ports: { type: 'string', default: '1' },
    clock: { type: 'string', default: 'real' },
  },
});

function fail(message) {
  process.stderr.write(`stat-simulator: ${message}\n`);
  process.exit(2);
}
const count = Number(o.revisions);
if (!Number.isInteger(count) || count < 1) fail(`--revisions must be a whole number ≥ 1, got ${o.revisions}`);
if (!/^(\d+|1-3)$/.test(o.replicas)) fail(`--replicas must be a number or 1-3, got ${o.replicas}`);
if (!['push', 'scrape'].includes(o.mode)) fail(`--mode must be push or scrape, got ${o.mode}`);
if (!['real', 'manual'].includes(o.clock)) fail(`--clock must be real or manual, got ${o.clock}`);
if (o.mode === 'push' && (!o.url || !o.token)) fail('--mode push needs --url and --token');
const baseLoad = Number(o.load);

/** The replicas: one entry per simulated queue-proxy. */
const revisions = [];
const replicas = [];
for (let i = 0; i < count; i++) {
  const name = o.name.replaceAll('{i}', String(i));
  const n = o.replicas === '1-3' ? 1 + (i % 3) : Number(o.replicas);
  const rev = { index: i, name, replicas: n, load: undefined };
  revisions.push(rev);
  for (let r = 0; r < n; r++) {
    replicas.push({ rev, pod: o.pod.replaceAll('{revision}', name).replaceAll('{r}', String(r)) });
  }
}
const byName = new Map(revisions.map((r) => [r.name, r]));
const started = Date.now();

/** A revision's total concurrency in the second ending at `ms`. */
function loadOf(rev, ms) {
  if (rev.load !== undefined) return rev.load;
  if (!o.wave) return baseLoad;
  return Math.round(baseLoad * (1 + Math.sin(Math.floor(ms / 1000) / 5 + rev.index)) * 1000) / 1000;
}

function stat(replica, ms) {
  const c = loadOf(replica.rev, ms) / replica.rev.replicas;
  return {
    namespace: o.namespace,
    revision: replica.rev.name,
    pod: replica.pod,
    averageConcurrency: c,
    averageProxiedConcurrency: 0,
    requestsPerSecond: c * 10,
    proxiedRequestsPerSecond: 0,
    processUptimeSeconds: Math.max(0, (ms - started) / 1000),
    periodMs: 1000,
    timestamp: ms,
  };
}

const say = (x) => process.stdout.write(`${JSON.stringify(x)}\n`);

// --- push: a few persistent connections, each a stats stream for its share of the replicas ----

// Each minute a stream is ended and the next opened on the same connection: Node's HTTP server
// cuts a request still arriving after its requestTimeout (5 minutes by default).
const secondsPerRequest = 60;

class Stream {
  #agent;
  #req;
  #writes = 0;
  constructor() {
    const https = o.url.startsWith('https:');
    this.#agent = https
      ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ...(o.ca ? { ca: readFileSync(o.ca) } : {}) })
      : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.request = https ? httpsRequest : httpRequest;
  }
  /** Writes lines; resolves once they are flushed to the socket. */
  write(text) {
    if (!this.#req || this.#writes >= secondsPerRequest) this.#open();
    this.#writes++;
    return new Promise((resolve) => this.#req.write(text, () => resolve()));
  }
  #open() {
    this.#req?.end();
    this.#writes = 0;
    const req = this.request(new URL('/internal/v1/stats', o.url), {
      method: 'POST',
      agent: this.#agent,
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/x-ndjson' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        if (res.statusCode !== 204)
          process.stderr.write(`stat-simulator: stats stream answered ${res.statusCode} ${body}\n`);
      });
    });
    req.on('error', (e) => {
      process.stderr.write(`stat-simulator: stats stream: ${e.message}\n`);
      if (this.#req === req) this.#req = undefined; // the next second opens a new one
    });
    this.#req = req;
  }
  close() {
    this.#req?.end();
    this.#agent.destroy();
  }
}

let streams = [];
async function push(ms) {
  const n = streams.length;
  const chunks = Array.from({ length: n }, () => []);
  for (let k = 0; k < replicas.length; k++) chunks[k % n].push(JSON.stringify(stat(replicas[k], ms)));
  await Promise.all(streams.map((s, k) => s.write(`${chunks[k].join('\n')}\n`)));
}

// --- scrape: one HTTP server answering for every replica --------------------------------------

let now = Date.now();
const byPath = new Map(replicas.map((r) => [`/${o.namespace}/${r.rev.name}/${r.pod}/stats`, r]));
async function serveScrapes() {
  const ports = [];
  for (let p = 0; p < Math.max(1, Number(o.ports)); p++) ports.push(await listenOne());
  return ports;
}
async function listenOne() {
  const server = createServer((req, res) => {
    const replica = byPath.get(req.url);
    if (!replica) return res.writeHead(404).end('no such replica\n');
    const body = JSON.stringify(stat(replica, o.clock === 'manual' ? now : Date.now()));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

// --- run ---------------------------------------------------------------------------------------

let ports = [];
if (o.mode === 'push') {
  streams = Array.from({ length: Math.max(1, Math.min(Number(o.connections), replicas.length)) }, () => new Stream());
} else ports = await serveScrapes();

if (o.clock === 'real' && o.mode === 'push') {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return; // a second still being written: skip rather than pile up
    busy = true;
    void push(Date.now()).finally(() => {
      busy = false;
    });
  }, 1000);
  process.on('SIGTERM', () => {
    clearInterval(timer);
    for (const s of streams) s.close();
    process.exit(0);
  });
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  const [command, a, b] = line.trim().split(/\s+/);
  if (command === 'load') {
    const rev = byName.get(a);
    const c = Number(b);
    if (!rev || !(c >= 0)) return say({ error: `load: no revision ${a} or bad concurrency ${b}` });
    rev.load = c;
    say({ load: a, concurrency: c });
  } else if (command === 'tick') {
    now = Number(a);
    if (o.mode === 'push') await push(now);
    say({ ticked: now });
  } else if (command) say({ error: `unknown command ${command}` });
});
say({ ready: true, replicas: replicas.length, ports });
