#!/usr/bin/env node
// Benchmark: reading request bodies in the API, in one process, peers interleaved per round.
//
//   node bench/api-parse.mjs [--rounds 6]
//
// A Service with 15,000 labels (326 KB of YAML; issue 12's was 257 KB) read by: Skiff's parseDocument
// (depth pre-scan, the yaml library without uniqueKeys, duplicate keys in one pass), the yaml
// library with `uniqueKeys: true` (how Skiff read YAML before), the yaml library alone without
// the check (the floor), and JSON.parse of the same object as JSON. Then the time to refuse
// 1 MB of `a: [[[…]]]` and a 2,000-deep JSON body. Peers are interleaved and their order rotates
// from round to round. Prints medians and ratios.
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { machine, median } from './lib.mjs';

const { register } = await import('tsx/esm/api');
register();
const { parseDocument } = await import('../shared/src/index.ts');

const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '6' } } });
const rounds = Number(opts.rounds);

const labels = Array.from({ length: 15_000 }, (_, i) => `    label-${i}: value\n`).join('');
const yaml = `apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: labels\n  labels:\n${labels}spec:\n  template:\n    spec:\n      containers:\n      - image: x\n`;
const json = JSON.stringify(parseAllDocuments(yaml)[0].toJS());
const deepYaml = `a: ${'['.repeat(500_000)}${']'.repeat(500_000)}\n`;
const deepJson = `{"spec":${'['.repeat(2000)}${']'.repeat(2000)}}`;

const peers = {
  'skiff parseDocument (YAML)': () => parseDocument(yaml, 'yaml'),
  'yaml, uniqueKeys: true (before)': () => parseAllDocuments(yaml, { uniqueKeys: true, strict: true })[0].toJS(),
  'yaml, no key check (floor)': () => parseAllDocuments(yaml, { uniqueKeys: false, strict: true })[0].toJS(),
  'skiff parseDocument (same as JSON)': () => parseDocument(json, 'json'),
  'refuse 1 MB of a: [[[…]]] (YAML)': () => parseDocument(deepYaml, 'yaml'),
  'refuse 2,000-deep JSON': () => parseDocument(deepJson, 'json'),
};
const times = Object.fromEntries(Object.keys(peers).map((k) => [k, []]));
const entries = Object.entries(peers);
for (let r = 0; r < rounds; r++) {
  // Each round starts at the next peer: the one run after the slow uniqueKeys pass finds the yaml
  // library's code warm, which favoured whichever peer came next by a third.
  for (const [name, run] of [...entries.slice(r % entries.length), ...entries.slice(0, r % entries.length)]) {
    const started = performance.now();
    const out = run();
    times[name].push(performance.now() - started);
    if (name.startsWith('refuse') && out.ok !== false) throw new Error(`${name}: was accepted`);
  }
}
console.log(`bodies: YAML ${(yaml.length / 1024).toFixed(0)} KB (15,000 labels), ${rounds} rounds; ${machine()}`);
const base = median(times['skiff parseDocument (YAML)']);
for (const [name, list] of Object.entries(times)) {
  const m = median(list);
  console.log(`${name.padEnd(38)} ${m.toFixed(1).padStart(8)} ms   ×${(m / base).toFixed(2)} of Skiff's YAML`);
}
