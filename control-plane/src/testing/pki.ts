import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ensureLocalPki, pkiFiles } from '@skiff/http/tls';

let made: string | undefined;

/**
 * Gives a test's data dir this process's one local CA and serving certificate, as if an earlier
 * start had made them: making RSA keys costs a second of CPU per start on a busy machine. The
 * control plane still loads, checks and serves them as it would its own.
 */
export function seedTestPki(dataDir: string): void {
  made ??= (() => {
    const dir = mkdtempSync(`${tmpdir()}/skiff-test-pki-`);
    ensureLocalPki(dir);
    return dir;
  })();
  mkdirSync(dataDir, { recursive: true });
  const from = pkiFiles(made);
  const to = pkiFiles(dataDir);
  for (const k of ['caCert', 'caKey', 'cert', 'key'] as const) copyFileSync(from[k], to[k]);
}
