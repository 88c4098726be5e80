import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateServes, createCa, issueServingCertificate, type KeyPair } from './certificates.ts';

/** The files of a data dir's local CA and serving certificate (the paths are a contract). */
export function pkiFiles(dir: string) {
  return {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'apiserver.crt'),
    key: join(dir, 'apiserver.key'),
  };
}

/** The names every local serving certificate carries, before any extra host names. */
export const loopbackNames = ['localhost', '127.0.0.1', '::1'];

export interface LocalPki {
  /** The CA certificate clients trust (PEM). */
  ca: string;
  /** The serving certificate and its key (PEM). */
  serving: KeyPair;
}

/**
 * The data dir's CA (made on first use) and a serving certificate it signed for `names`, issued
 * again when the one on disk lacks a name, nears expiry or comes from another CA. Keys are 0600.
 */
export function ensureLocalPki(dir: string, names: string[] = loopbackNames, now = new Date()): LocalPki {
  const files = pkiFiles(dir);
  mkdirSync(dir, { recursive: true });
  let ca: KeyPair;
  if (existsSync(files.caCert) && existsSync(files.caKey)) {
    ca = { cert: readFileSync(files.caCert, 'utf8'), key: readFileSync(files.caKey, 'utf8') };
  } else {
    ca = createCa(`skiff-ca@${Math.floor(now.getTime() / 1000)}`, now);
    writeAtomically(files.caKey, ca.key, 0o600);
    writeAtomically(files.caCert, ca.cert, 0o644);
  }
  const all = [...new Set(names)];
  if (existsSync(files.cert) && existsSync(files.key)) {
    const serving = { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
    if (certificateServes(serving.cert, ca.cert, all, now)) return { ca: ca.cert, serving };
  }
  const serving = issueServingCertificate(ca, all, now);
  writeAtomically(files.key, serving.key, 0o600);
  writeAtomically(files.cert, serving.cert, 0o644);
  return { ca: ca.cert, serving };
}

/** Writes through a temporary file and a rename, so a crash never leaves half a key. */
export function writeAtomically(file: string, content: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}
