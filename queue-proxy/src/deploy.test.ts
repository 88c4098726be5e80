import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { queueProxyNodeFlags } from '@skiff/shared';
import { describe, expect, it } from 'vitest';

// The queue-proxy's Node flags (memory: bench/data-plane.mjs) have one source, queueProxyNodeFlags;
// the local backend starts the queue-proxy with them, and the image's CMD, which no TypeScript
// reads, must say the same.
const dockerfile = readFileSync(
  fileURLToPath(new URL('../../deploy/docker/queue-proxy.Dockerfile', import.meta.url)),
  'utf8',
);

describe("the queue-proxy's Node flags", () => {
  it("are the image's command line", () => {
    const cmd = /^CMD (.*)$/m.exec(dockerfile)?.[1];
    expect(cmd).toBeDefined();
    expect(JSON.parse(cmd as string)).toEqual(['node', ...queueProxyNodeFlags, 'queue-proxy.js']);
    // And nowhere else: NODE_OPTIONS would reach the children of an exec readiness probe too.
    expect(dockerfile).not.toMatch(/NODE_OPTIONS/);
  });

  it('are taken by this node', () => {
    // Node exits 9 on a flag it does not know; V8 flags are not checked by `--check`, so run code.
    const out = execFileSync(process.execPath, [...queueProxyNodeFlags, '-e', 'process.stdout.write("ok")'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBe('ok');
  });
});
