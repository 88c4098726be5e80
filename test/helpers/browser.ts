import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { describe, it } from 'vitest';

export const chromiumPath = '/usr/bin/chromium';
const certutilPath = '/usr/bin/certutil';

/** Why the browser suites cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  if (!existsSync(chromiumPath)) return `${chromiumPath} not found (apt-get install chromium; .ci/run installs it)`;
  if (!existsSync(certutilPath)) return `${certutilPath} not found (apt-get install libnss3-tools)`;
  return undefined;
}

/**
 * describe() for browser suites: skips with the reason printed when Chromium is missing, but
 * fails under CI=true, where a skip would hide the suite (as test/k8s does).
 */
export const describeBrowser = (name: string, fn: () => void): void => {
  const reason = browserMissing();
  if (!reason) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has Chromium and certutil (CI=true: a skip is a failure)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  console.warn(`skipping ${name}: ${reason}`);
  describe.skip(`${name} (skipped: ${reason})`, fn);
};

/**
 * Debian's Chromium, headless, with a fresh profile whose NSS database trusts `caFile` (the
 * API's local CA): Chromium on Linux reads certificates from $HOME/.pki/nssdb, so HOME is a new
 * folder too. No certificate errors are ignored.
 */
export async function launchChromium(caFile: string): Promise<BrowserContext> {
  const home = mkdtempSync(join(tmpdir(), 'skiff-chromium-home-'));
  const nssdb = join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  execFileSync(certutilPath, ['-N', '-d', `sql:${nssdb}`, '--empty-password']);
  execFileSync(certutilPath, ['-A', '-d', `sql:${nssdb}`, '-n', 'skiff-local-ca', '-t', 'C,,', '-i', caFile]);
  // A fresh profile (playwright passes it as --user-data-dir).
  const profile = mkdtempSync(join(tmpdir(), 'skiff-chromium-profile-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    env: { ...process.env, HOME: home },
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
