import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../../control-plane/src/main.ts', import.meta.url));

function controlPlane(env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', main],
      { timeout: 20_000, env: { ...process.env, ...env } },
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
});
