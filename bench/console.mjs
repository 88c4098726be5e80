#!/usr/bin/env node
// Benchmark: the web console's weight and speed, and what its rings cost the control plane.
//
//   node bench/console.mjs [--runs 5] [--revisions 100]
//
// One control plane in this process (memory backend, so no replica runs), then:
//  1. RSS: idle (after a GC), then with N services (one revision each) whose rings hold a full
//     hour of 1 s samples (every figure set), after a GC. Bar: ≤ 100 MiB more than idle.
//  2. Page weight: Debian's Chromium (playwright-core) logs in and opens the services page and a
//     revision page; the bytes each response put on the wire (compressed body + headers), the
//     never-ending event stream excluded. Bar: the first page ≤ 150 KB in total.
//  3. Time to first chart: from navigation start to a revision chart drawn with its hour of
//     history, median of --runs fresh page loads; the login page's load on the same server is
//     printed beside it as the floor (same TLS, same loopback).
// There is no console peer to run on this machine (Cloud Run's and OpenFaaS's are hosted): the
// ratios printed are to the bars.
import { existsSync, mkdtempSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine } from './lib.mjs';

const { values: opts } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, revisions: { type: 'string', default: '100' } },
});
const runs = Number(opts.runs);
const revisions = Number(opts.revisions);
if (typeof globalThis.gc !== 'function') {
  console.error('run with --expose-gc: node --expose-gc bench/console.mjs');
  process.exit(1);
}
const chromiumPath = '/usr/bin/chromium';
if (!existsSync(chromiumPath) || !existsSync('/usr/bin/certutil')) {
  console.error('chromium and certutil are needed: apt-get install chromium libnss3-tools');
  process.exit(1);
}

const { register } = await import('tsx/esm/api');
register();
const { startControlPlane } = await import('../control-plane/src/server.ts');
const { MemoryBackend } = await import('../control-plane/src/backends/memory/memory-backend.ts');
const { seriesFields } = await import('../control-plane/src/console/series.ts');
const { launchChromium } = await import('../test/helpers/browser.ts');
const { fetchTrusting } = await import('@skiff/http/tls');

const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** RSS, and the heap plus array buffers (where the rings' Float32Arrays live), after GCs. */
async function settledMemory() {
  for (let i = 0; i < 5; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 300));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, js: m.heapUsed + m.external };
}

const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-console-'));
const token = 'bench-token';
const cp = await startControlPlane({
  dataDir,
  backend: new MemoryBackend({ readyAfterMs: 0 }),
  apiPort: 0,
  userToken: token,
  routerToken: 'bench-router-token',
  log: () => {},
});
const fetch = fetchTrusting(cp.ca);
const api = (method, path, body) =>
  fetch(`${cp.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
// The console's assets are built at their first request: build them before measuring idle.
await (await fetch(`${cp.url}/console/assets/app.js`)).arrayBuffer();
const idle = await settledMemory();

// 1. N revisions with an hour of samples each.
const svc = '/apis/serving.knative.dev/v1/namespaces/default/services';
for (let i = 0; i < revisions; i++) {
  const r = await api('POST', svc, {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: `svc-${i}` },
    spec: { template: { spec: { containers: [{ image: 'example' }] } } },
  });
  if (r.status !== 201) throw new Error(`creating svc-${i}: ${r.status} ${await r.text()}`);
}
await cp.reconciler.settled();
const withServices = await settledMemory();
const now = Math.floor(Date.now() / 1000);
for (let i = 0; i < revisions; i++) {
  for (let s = now - 3599; s <= now; s++) {
    const t = s % 600;
    cp.live.write(
      `default/svc-${i}-00001`,
      s,
      seriesFields.map((_, f) => 10 + f + 5 * Math.sin(t / 30 + i)),
    );
  }
}
const filled = await settledMemory();
const samples = cp.live.history('default', 'svc-0-00001').length;

// 2 and 3: Chromium.
const browser = await launchChromium(join(dataDir, 'ca.crt'));
const page = browser.pages()[0] ?? (await browser.newPage());
// Every load is a first visit: nothing from the browser's cache.
await (await page.context().newCDPSession(page)).send('Network.setCacheDisabled', { cacheDisabled: true });
const login = [];
for (let i = 0; i < runs; i++) {
  await page.goto(`${cp.url}/`);
  login.push(await page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd));
}
await page.fill('#token', token);
await page.click('button[type=submit]');
await page.waitForSelector('tr[data-service=svc-0]');

/**
 * What every response the page loaded (streams excluded) weighs on the wire: each is asked for
 * again with the browser's cookie and `accept-encoding: gzip`, and its raw (compressed) body and
 * head counted (the browser's own byte counts are not reliable across playwright versions).
 */
async function weigh(open) {
  const responses = [];
  const onResponse = (r) => responses.push(r);
  page.on('response', onResponse);
  await open();
  await sleep(1500);
  page.off('response', onResponse);
  const rows = [];
  for (const r of responses) {
    const url = new URL(r.url());
    if (url.origin !== cp.url) continue;
    // Streams (events, watches, log follow) never finish: they are not page weight.
    const finished = await Promise.race([r.finished().then(() => true), sleep(1000).then(() => false)]);
    if (!finished) continue;
    rows.push({ path: url.pathname, bytes: await wireBytes(url.pathname + url.search) });
  }
  return rows;
}

function wireBytes(path) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${cp.url}${path}`,
      { ca: cp.ca, headers: { cookie: `skiff_session=${token}`, 'accept-encoding': 'gzip, deflate, br' } },
      (res) => {
        let bytes = Object.entries(res.headers).reduce((a, [k, v]) => a + k.length + String(v).length + 4, 17);
        res.on('data', (d) => (bytes += d.length));
        res.on('end', () => resolve(bytes));
      },
    );
    req.once('error', reject);
    req.end();
  });
}

const firstPage = await weigh(async () => {
  await page.goto(`${cp.url}/`, { waitUntil: 'load' });
  await page.waitForSelector('tr[data-service=svc-99], tr[data-service=svc-0]');
});
const revisionPage = await weigh(async () => {
  await page.goto(`${cp.url}/#/revisions/default/svc-0-00001`);
  await page.waitForSelector('[data-chart=rps] canvas');
});

const firstChart = [];
for (let i = 0; i < runs; i++) {
  await page.goto('about:blank');
  await page.goto(`${cp.url}/#/revisions/default/svc-${i}-00001`);
  // Drawn: the chart has its hour of history (data-last is set from the last sample drawn).
  await page.waitForSelector('[data-chart=rps][data-last]');
  firstChart.push(await page.evaluate(() => performance.now()));
}
await browser.close();

// The revision page's hour of history comes first on its event stream (not counted above).
const events = await fetch(`${cp.url}/console/api/events?namespace=default&revision=svc-0-00001`, {
  headers: { cookie: `skiff_session=${token}`, 'accept-encoding': 'gzip' },
});
const reader = events.body.getReader();
let history = '';
while (!history.includes('\n\n')) history += new TextDecoder().decode((await reader.read()).value);
await reader.cancel();
const historyBytes = history.indexOf('\n\n') + 2;
await cp.close();

const kb = (b) => `${(b / 1000).toFixed(1)} KB`;
const total = (rows) => rows.reduce((a, r) => a + r.bytes, 0);
const byPath = (rows) => rows.map((r) => `    ${r.path.padEnd(48)} ${kb(r.bytes)}`).join('\n');
console.log(`# console bench — ${new Date().toISOString()}, ${machine()}`);
console.log(`runs ${runs}, revisions ${revisions}, samples per ring ${samples}`);
console.log('\nMemory of the control plane (this process, after GC): RSS | heap used + external');
const row = (label, m) =>
  console.log(`  ${label.padEnd(34)} ${(m.rss / MiB).toFixed(1)} MiB | ${(m.js / MiB).toFixed(1)} MiB`);
row('idle', idle);
row(`+ ${revisions} services and their rings`, withServices);
row('+ every ring full (1 h at 1 s)', filled);
const over = (filled.rss - idle.rss) / MiB;
const overJs = (filled.js - idle.js) / MiB;
console.log(
  `  over idle: RSS ${over.toFixed(1)} MiB, heap+external ${overJs.toFixed(1)} MiB (filling the preallocated rings: ${((filled.js - withServices.js) / MiB).toFixed(1)} MiB); bar 100 MiB → ${(Math.max(over, overJs) / 100).toFixed(2)}× the bar`,
);
const isAsset = (r) => r.path === '/' || r.path.startsWith('/console/assets/');
const assets = total(firstPage.filter(isAsset));
console.log(
  `\nFirst page (services, after login), on the wire: the page (HTML, JS, CSS, gzip) ${kb(assets)}; bar 150 KB → ${(assets / 150_000).toFixed(2)}× the bar`,
);
console.log(`  with its data for ${revisions} services: ${kb(total(firstPage))}`);
console.log(byPath(firstPage));
console.log(`Revision page (charts with an hour of history): ${kb(total(revisionPage))}`);
console.log(byPath(revisionPage));
console.log(`    ${'event stream: the hour of history (uncompressed)'.padEnd(48)} ${kb(historyBytes)}`);
console.log(
  `\nTime to first chart (navigation start → chart drawn with its hour), median of ${runs}: ${median(firstChart).toFixed(0)} ms`,
);
console.log(`  all: ${firstChart.map((x) => x.toFixed(0)).join(', ')} ms`);
console.log(
  `Login page load on the same server (the floor), median: ${median(login).toFixed(0)} ms → chart/login ${(median(firstChart) / median(login)).toFixed(1)}×`,
);
process.exit(0);
