import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from '@skiff/shared';
import { describe, expect, it } from 'vitest';
import { offThreadBytes, parseBody } from './parse-worker.ts';

const labels = (n: number) => Array.from({ length: n }, (_, i) => `    l${i}: v\n`).join('');
const large = `apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: big\n  labels:\n${labels(2000)}`;

describe('YAML bodies parsed on the parsing thread', () => {
  it('reads a large body as parseDocument does inline', async () => {
    expect(large.length).toBeGreaterThan(offThreadBytes);
    expect(await parseBody(large, 'yaml')).toEqual(parseDocument(large, 'yaml'));
  }, 30_000); // the first body starts the thread, which loads tsx and the parser

  it('refuses a large deep body and a repeated key there as inline', async () => {
    const deep = `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
    const repeated = `${large}  name: again\n`;
    for (const body of [deep, repeated]) {
      const r = await parseBody(body, 'yaml');
      expect(r).toEqual(parseDocument(body, 'yaml'));
      expect(r.ok).toBe(false);
    }
  });

  it('works from the control-plane image, bundled as its Dockerfile bundles it', async () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const dockerfile = readFileSync(join(root, 'deploy/docker/control-plane.Dockerfile'), 'utf8');
    const outfiles = [...dockerfile.matchAll(/--outfile=(\S+)/g)].map((m) => m[1] as string);
    const main = outfiles.find((f) => f.endsWith('/main.js'));
    const thread = outfiles.find((f) => f.endsWith('/parse-thread.mjs'));
    // The bundle starts the thread from ./parse-thread.mjs beside itself.
    expect(main && dirname(main)).toBe(thread && dirname(thread));
    const banner = /"--banner:js=([^"]+)"/.exec(dockerfile)?.[1];
    expect(banner).toBeDefined();

    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'skiff-bundle-'));
    try {
      const common = {
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        banner: { js: banner as string },
        logLevel: 'warning',
      } as const;
      // A stand-in for main.ts that parses one large body through parseBody and prints the result.
      await build({
        ...common,
        stdin: {
          contents: `import { parseBody } from './parse-worker.ts';\nconst keep = setInterval(() => {}, 1000);\nconst r = await parseBody(${JSON.stringify(large)}, 'yaml');\nclearInterval(keep);\nprocess.stdout.write(JSON.stringify(r));\n`,
          resolveDir: dirname(fileURLToPath(import.meta.url)),
          loader: 'ts',
        },
        outfile: join(dir, 'dist', basename(main as string)),
      });
      await build({
        ...common,
        entryPoints: [fileURLToPath(new URL('./parse-thread.ts', import.meta.url))],
        outfile: join(dir, 'dist', basename(thread as string)),
      });
      // Run away from the repository, where neither tsx nor the sources are.
      const out = execFileSync(process.execPath, [join(dir, 'dist', 'main.js')], { cwd: dir, encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual(parseDocument(large, 'yaml'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
