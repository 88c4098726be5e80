// Bundles one entry of a package into an ESM file (and its lazily loaded chunks, if any) for production and benchmarks:
// `node ../scripts/bundle.mjs src/main.ts dist/main.js` from the package directory.
import { rmSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { build } from 'esbuild';

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error('usage: node scripts/bundle.mjs <entry.ts> <out.js>');
  process.exit(2);
}
const name = basename(outfile, extname(outfile));
// Its chunks in a directory of their own, emptied first (their names change with their content).
rmSync(join(dirname(outfile), `${name}-chunks`), { recursive: true, force: true });
await build({
  entryPoints: [entry],
  // Dynamic imports become chunks beside it, loaded only when reached (the router loads its
  // CA-trusting fetch after it listens).
  outdir: dirname(outfile),
  entryNames: name,
  chunkNames: `${name}-chunks/[name]-[hash]`,
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  // Some dependencies still call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
