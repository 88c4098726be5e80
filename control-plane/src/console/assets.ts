import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
  etag: string;
}

const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function asset(name: string, body: Buffer): [string, Asset] {
  const ext = name.slice(name.lastIndexOf('.'));
  return [
    name,
    {
      body,
      gzip: gzipSync(body, { level: 9 }),
      type: types[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`,
    },
  ];
}

const files = ['app.js', 'app.css'];

/**
 * The console's browser code (Preact views, uPlot charts), bundled once per process with esbuild
 * (from the source beside this file) and kept in memory with a gzip copy. A bundled control plane
 * (the container image) ships the same files prebuilt in `dist/console/` beside its main.js.
 */
export async function buildConsoleAssets(): Promise<Map<string, Asset>> {
  const prebuilt = new URL('console/', import.meta.url);
  if (files.every((f) => existsSync(fileURLToPath(new URL(f, prebuilt))))) {
    return new Map(files.map((f) => asset(f, readFileSync(fileURLToPath(new URL(f, prebuilt))))));
  }
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: { app: fileURLToPath(new URL('web/main.ts', import.meta.url)) },
    bundle: true,
    outdir: '/console', // nothing is written; names only
    write: false,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return new Map(
    result.outputFiles.map((f) => asset(f.path.slice(f.path.lastIndexOf('/') + 1), Buffer.from(f.contents))),
  );
}
