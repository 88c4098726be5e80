import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../../control-plane/src/main.ts', import.meta.url));

function controlPlane(env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', main],
      { timeout: 60_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

// skiff-control-plane's ACME settings are checked before it starts anything: a bad one is exit 2
// with the variable named, never a control plane that runs without the certificates it was told to order.
describe('skiff-control-plane ACME settings', () => {
  it('refuses a directory that is not https', async () => {
    expect(await controlPlane({ SKIFF_ACME_DIRECTORY: 'http://acme.example/dir' })).toEqual({
      code: 2,
      out: 'skiff-control-plane: SKIFF_ACME_DIRECTORY must be an https:// URL (RFC 8555), got "http://acme.example/dir"\n',
    });
  });

  it('on Kubernetes, wants the store key from a Secret rather than the pod’s data dir', async () => {
    const r = await controlPlane({ SKIFF_BACKEND: 'kubernetes', SKIFF_ACME_DIRECTORY: 'https://acme.example/dir' });
    expect(r.code).toBe(2);
    expect(r.out).toContain('SKIFF_ACME_DIRECTORY on Kubernetes needs SKIFF_ACME_STORE_KEY_FILE');
  });

  it('on Kubernetes, says which Secret to make when the store key is not mounted, before starting anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-acme-env-'));
    const missing = join(dir, 'acme/store.key');
    const r = await controlPlane({
      SKIFF_BACKEND: 'kubernetes',
      SKIFF_ACME_DIRECTORY: 'https://acme.example/dir',
      SKIFF_ACME_STORE_KEY_FILE: missing,
    });
    expect(r).toEqual({
      code: 2,
      out: `skiff-control-plane: SKIFF_ACME_DIRECTORY needs the ACME store key: ACME store key ${missing}: not found (mounted from the Secret skiff-acme-store-key: kubectl -n skiff create secret generic skiff-acme-store-key --from-literal=store.key="$(openssl rand -base64 32)", see deploy/README.md)\n`,
    });
    // A key of the wrong size is refused as clearly (and never replaced).
    writeFileSync(join(dir, 'short.key'), `${Buffer.alloc(16).toString('base64')}\n`);
    const short = await controlPlane({
      SKIFF_BACKEND: 'kubernetes',
      SKIFF_ACME_DIRECTORY: 'https://acme.example/dir',
      SKIFF_ACME_STORE_KEY_FILE: join(dir, 'short.key'),
    });
    expect(short.code).toBe(2);
    expect(short.out).toContain('want 32 bytes in base64, found 16');
  });

  it('refuses a forget-after that is not whole seconds', async () => {
    expect(
      await controlPlane({ SKIFF_ACME_DIRECTORY: 'https://acme.example/dir', SKIFF_ACME_FORGET_AFTER_SECONDS: '1h' }),
    ).toEqual({
      code: 2,
      out: 'skiff-control-plane: SKIFF_ACME_FORGET_AFTER_SECONDS must be a whole number of seconds (0 or more), got "1h"\n',
    });
  });
});
