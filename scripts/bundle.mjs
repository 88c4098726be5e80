// Bundles one entry of a package into one file (and its lazily loaded chunks, if any) for production and benchmarks:
// `node ../scripts/bundle.mjs src/main.ts dist/main.js` from the package directory.
//
// ES modules by default. A package whose package.json says `"bundle": { "format": "cjs" }` (the
// queue-proxy) is bundled as CommonJS, with a package.json saying so beside it: Node then starts it
// without its ES module loader, about 3 MiB less resident memory per process (bench/RESULTS.md).
// CommonJS has no lazily loaded chunks and no top-level await.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { build } from 'esbuild';

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error('usage: node scripts/bundle.mjs <entry.ts> <out.js>');
  process.exit(2);
}
const cjs = JSON.parse(readFileSync('package.json', 'utf8')).bundle?.format === 'cjs';
const name = basename(outfile, extname(outfile));
// Its chunks in a directory of their own, emptied first (their names change with their content).
rmSync(join(dirname(outfile), `${name}-chunks`), { recursive: true, force: true });
const common = {
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
};
if (cjs) {
  // First, so that no one runs the new bundle as an ES module (the package's own type) meanwhile.
  mkdirSync(dirname(outfile), { recursive: true });
  writeFileSync(join(dirname(outfile), 'package.json'), '{ "type": "commonjs" }\n');
  await build({ ...common, outfile, format: 'cjs' });
} else {
  await build({
    ...common,
    // Dynamic imports become chunks beside it, loaded only when reached (the router loads its
    // CA-trusting fetch after it listens).
    outdir: dirname(outfile),
    entryNames: name,
    chunkNames: `${name}-chunks/[name]-[hash]`,
    splitting: true,
    format: 'esm',
    // Some dependencies still call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);",
    },
  });
}
