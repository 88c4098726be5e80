import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// The queue-proxy runs beside every replica, so what its bundle holds is memory in every pod: zod
// alone was 730 KB of bundle and ~6 MiB of peak RSS (bench/data-plane.mjs), brought back once by a
// constant imported from a module of zod schemas in @skiff/shared.
describe('queue-proxy bundle', () => {
  it('leaves zod out and stays small', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('./main.ts', import.meta.url))],
      bundle: true,
      write: false,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
    });
    // What the bundle holds (the metafile's inputs list every file seen, before tree shaking).
    const kept = Object.values(result.metafile.outputs).flatMap((o) =>
      Object.entries(o.inputs).flatMap(([path, input]) => (input.bytesInOutput > 0 ? [path] : [])),
    );
    expect(kept.filter((path) => path.includes('node_modules/zod/'))).toEqual([]);
    const bytes = result.outputFiles.reduce((sum, f) => sum + f.contents.length, 0);
    expect(bytes).toBeLessThan(200 * 1024);
  });
});
