#!/usr/bin/env node
// Benchmark: SLO-gated rollouts under load on the local backend.
//
//   node bench/rollout.mjs [--rounds 3] [--dwell 10s] [--clients 8]
//
// Runs `skiff up`, deploys the test app twice: `gated` with `rollout.skiff.dev/steps: 5,25,50,100`,
// `step-duration` = the dwell, `min-requests: 50`, `max-error-rate: 1`; and `peer`, the same app
// without a rollout policy (Knative's default: a new revision takes all traffic once Ready). Closed-
// loop clients send `GET /` through the router to both all along. Each round rolls out to both
// a bad revision (answers 500 for 20% of requests), then a good one. Per bad rollout it reports the
// requests failed within two dwell periods of the new revision's first traffic (the window the bar
// speaks of), the time to detect (first traffic → RolloutSucceeded False) and the time to restore
// (first traffic → the last answer the bad revision gave through the router); per good rollout,
// the time to 100% and its failed requests, or the verdict if the gates rolled it back by mistake
// (the default 200 ms latency gate on a loaded machine). Bars: a bad revision costs ≤ 0.5% failed
// requests and is fully rolled back within 2 dwell periods. Loopback only; the load is 2 × clients
// closed-loop connections.
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiFetch, freePort, machine, median, start } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    dwell: { type: 'string', default: '10s' },
    clients: { type: 'string', default: '8' },
  },
});
const rounds = Number(opts.rounds);
const dwellMs = Number.parseFloat(opts.dwell) * (opts.dwell.endsWith('ms') ? 1 : 1000);
const clients = Number(opts.clients);
const root = fileURLToPath(new URL('..', import.meta.url));
const app = join(root, 'test/apps/app.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-bench-rollout-'));
const [api, routerPort] = [await freePort(), await freePort()];
const token = 'bench-token';
const skiffUp = await start(
  process.execPath,
  [join(root, 'control-plane/bin/skiff.js'), 'up'],
  {
    SKIFF_DATA_DIR: dataDir,
    SKIFF_API_PORT: String(api),
    SKIFF_ROUTER_PORT: String(routerPort),
    SKIFF_API_TOKEN: token,
  },
  /Skiff is up/,
  60_000,
);
const apiUrl = `https://127.0.0.1:${api}`;
const fetch = apiFetch(dataDir);
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const svcUrl = (name = '') =>
  `${apiUrl}/apis/serving.knative.dev/v1/namespaces/default/services${name ? `/${name}` : ''}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function get(name) {
  return (await fetch(svcUrl(name), { headers })).json();
}

function manifest(name, annotations, env) {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name, annotations },
    spec: {
      template: {
        spec: {
          containers: [
            { command: [process.execPath, app], env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })) },
          ],
        },
      },
    },
  };
}

async function setEnv(name, env) {
  const svc = await get(name);
  delete svc.status;
  svc.spec.template.spec.containers[0].env = Object.entries(env).map(([k, v]) => ({ name: k, value: v }));
  const r = await fetch(svcUrl(name), { method: 'PUT', headers, body: JSON.stringify(svc) });
  if (r.status !== 200) throw new Error(`update ${name}: ${r.status} ${await r.text()}`);
}

const condition = (svc, type) => svc.status?.conditions?.find((c) => c.type === type);

/** Polls until `done(svc)`; returns when it first held. */
async function until(name, done, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const svc = await get(name);
    if (done(svc)) return { svc, at: Date.now() };
    await sleep(50);
  }
  throw new Error(`${name}: timed out`);
}

const share = (svc, revision) =>
  (svc.status?.traffic ?? []).filter((t) => t.revisionName === revision).reduce((n, t) => n + t.percent, 0);

// Load: closed-loop clients per service, every answer kept with its time and revision.
const agent = new Agent({ keepAlive: true, maxSockets: 4 * clients });
const samples = { gated: [], peer: [] };
let running = true;
function hit(name) {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: routerPort, path: '/', headers: { host: `${name}.default.localhost` }, agent },
      (res) => {
        res.resume();
        res.on('end', () => {
          samples[name].push({ at: Date.now(), ok: res.statusCode === 200, revision: res.headers['skiff-revision'] });
          resolve();
        });
        res.on('error', () => resolve());
      },
    );
    req.on('error', () => {
      samples[name].push({ at: Date.now(), ok: false, revision: undefined });
      resolve();
    });
    req.end();
  });
}
const loops = [];
for (const name of ['gated', 'peer']) {
  for (let i = 0; i < clients; i++) {
    loops.push(
      (async () => {
        while (running) await hit(name);
      })(),
    );
  }
}

const gates = {
  'rollout.skiff.dev/steps': '5,25,50,100',
  'rollout.skiff.dev/step-duration': opts.dwell,
  'rollout.skiff.dev/min-requests': '50',
  'rollout.skiff.dev/max-error-rate': '1',
};
for (const [name, annotations] of [
  ['gated', gates],
  ['peer', {}],
]) {
  const r = await fetch(svcUrl(), {
    method: 'POST',
    headers,
    body: JSON.stringify(manifest(name, annotations, { ROUND: '0' })),
  });
  if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${await r.text()}`);
  await until(name, (s) => condition(s, 'Ready')?.status === 'True');
}
await sleep(2000);

const window = (name, from, to) => samples[name].filter((s) => s.at > from && s.at <= to);
const failedPct = (list) => (100 * list.filter((s) => !s.ok).length) / Math.max(1, list.length);
const results = [];
for (let round = 1; round <= rounds; round++) {
  // A bad revision to both services at once.
  const generation = (await get('gated')).status.latestCreatedRevisionName;
  const next = (n) =>
    `${n.slice(0, n.lastIndexOf('-'))}-${String(Number(n.slice(n.lastIndexOf('-') + 1)) + 1).padStart(5, '0')}`;
  const badGated = next(generation);
  const badPeer = next((await get('peer')).status.latestCreatedRevisionName);
  await Promise.all([
    setEnv('gated', { ROUND: `${round}`, ERROR_PERCENT: '20' }),
    setEnv('peer', { ROUND: `${round}`, ERROR_PERCENT: '20' }),
  ]);
  const [first, peerFirst] = await Promise.all([
    until('gated', (s) => share(s, badGated) > 0),
    until('peer', (s) => share(s, badPeer) > 0),
  ]);
  const verdict = await until('gated', (s) => condition(s, 'RolloutSucceeded')?.status === 'False');
  await sleep(Math.max(0, first.at + 2 * dwellMs - Date.now()) + 500);
  const inWindow = window('gated', first.at, first.at + 2 * dwellMs);
  const peerWindow = window('peer', peerFirst.at, peerFirst.at + 2 * dwellMs);
  const badAnswers = samples.gated.filter((s) => s.revision === badGated);
  const lastBad = badAnswers.at(-1)?.at ?? first.at;
  const firstBad = badAnswers[0]?.at ?? first.at;
  const bad = {
    requests: inWindow.length,
    failed: inWindow.filter((s) => !s.ok).length,
    failedPct: failedPct(inWindow),
    detectS: (verdict.at - first.at) / 1000,
    restoreS: (lastBad - first.at) / 1000,
    routedS: (firstBad - first.at) / 1000,
    // The bad revision's share of the answers while it had traffic: its first step's percent.
    sharePct: (100 * badAnswers.length) / Math.max(1, window('gated', firstBad - 1, lastBad).length),
    badAnswers: badAnswers.length,
    peerFailedPct: failedPct(peerWindow),
    message: condition(verdict.svc, 'RolloutSucceeded').message,
  };
  // A good revision to both.
  const good = next(badGated);
  const goodStart = Date.now();
  await Promise.all([setEnv('gated', { ROUND: `${round}` }), setEnv('peer', { ROUND: `${round}` })]);
  const goodFirst = await until('gated', (s) => share(s, good) > 0);
  // A healthy revision can still be rolled back by mistake (a noisy machine's p99): say so, and go on.
  const done = await until('gated', (s) => {
    const c = condition(s, 'RolloutSucceeded');
    return (
      (c?.status === 'True' && share(s, good) === 100) || (c?.status === 'False' && c.message.includes(`"${good}"`))
    );
  });
  const goodVerdict = condition(done.svc, 'RolloutSucceeded');
  const goodWindow = window('gated', goodStart, done.at);
  const goodResult = {
    rolledBack: goodVerdict.status === 'False' ? goodVerdict.message : undefined,
    toFullS: (done.at - goodFirst.at) / 1000,
    failed: goodWindow.filter((s) => !s.ok).length,
    requests: goodWindow.length,
  };
  results.push({ bad, good: goodResult });
  console.log(
    `round ${round}: bad: ${bad.failed}/${bad.requests} failed in 2 dwells (${bad.failedPct.toFixed(2)}%; peer without gates ${bad.peerFailedPct.toFixed(2)}%), ` +
      `first bad answer ${bad.routedS.toFixed(1)} s, ${bad.badAnswers} in all (${bad.sharePct.toFixed(1)}% of the answers meanwhile), detected ${bad.detectS.toFixed(1)} s, last bad answer ${bad.restoreS.toFixed(1)} s after its first traffic; ` +
      (goodResult.rolledBack
        ? `good: ROLLED BACK after ${goodResult.toFullS.toFixed(1)} s (${goodResult.rolledBack})`
        : `good: 100% after ${goodResult.toFullS.toFixed(1)} s, ${goodResult.failed}/${goodResult.requests} failed`),
  );
  console.log(`  verdict: ${bad.message}`);
  await sleep(1000);
}
running = false;
await Promise.all(loops);

const m = (f) => median(results.map(f));
console.log(`\n${machine()}; dwell ${opts.dwell}, ${clients} clients per service, ${rounds} rounds (medians)`);
console.log('| measure | gated | peer (no gates) | ratio |');
console.log('|---|---:|---:|---:|');
console.log(
  `| bad revision: failed requests within 2 dwells | ${m((r) => r.bad.failedPct).toFixed(2)}% | ${m((r) => r.bad.peerFailedPct).toFixed(2)}% | ${(
    m((r) => r.bad.failedPct) /
      Math.max(
        0.001,
        m((r) => r.bad.peerFailedPct),
      )
  ).toFixed(3)}× |`,
);
console.log(`| bad revision: time to detect | ${m((r) => r.bad.detectS).toFixed(1)} s | never | |`);
console.log(
  `| bad revision: time to restore 100% to the old revision | ${m((r) => r.bad.restoreS).toFixed(1)} s (${(m((r) => r.bad.restoreS) / (dwellMs / 1000)).toFixed(2)} dwells) | never | |`,
);
const promoted = results.filter((r) => !r.good.rolledBack);
console.log(
  `| good revision: first traffic to 100% | ${promoted.length > 0 ? `${median(promoted.map((r) => r.good.toFullS)).toFixed(1)} s` : '–'} | at once | |`,
);
console.log(`| good revision: rolled back by mistake | ${results.length - promoted.length} of ${results.length} | | |`);
console.log(`| good revision: failed requests | ${results.reduce((n, r) => n + r.good.failed, 0)} | | |`);
const worstFailed = Math.max(...results.map((r) => r.bad.failedPct));
const worstRestore = Math.max(...results.map((r) => r.bad.restoreS));
console.log(
  `bars: failed ≤ 0.5%: worst ${worstFailed.toFixed(2)}% ${worstFailed <= 0.5 ? 'met' : 'NOT met'}; restored within 2 dwells: worst ${worstRestore.toFixed(1)} s ${worstRestore <= (2 * dwellMs) / 1000 ? 'met' : 'NOT met'}`,
);
// Ctrl-C, as a user would: skiff up stops its control plane, router and replicas (a SIGKILL, the
// helper's last resort, would leave them running).
skiffUp.kill('SIGINT');
await Promise.race([new Promise((r) => skiffUp.once('exit', r)), sleep(30_000)]);
process.exit(0);
