import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Fetch, fetchTrusting } from '@skiff/http/tls';
import { seedTestPki } from '../../control-plane/src/testing/pki.ts';
import { type Proc, start } from './processes.ts';

const controlPlaneBin = fileURLToPath(new URL('../../control-plane/bin/skiff-control-plane.js', import.meta.url));
const cliBin = fileURLToPath(new URL('../../control-plane/bin/skiff.js', import.meta.url));

export interface ControlPlaneProc {
  proc: Proc;
  url: string;
  port: number;
  dataDir: string;
  token: string;
  /** `fetch` that trusts the API's CA. */
  fetch: Fetch;
}

/**
 * Starts the control plane program (memory backend) with its data in `dataDir`, on `port` or else
 * on a port the kernel picks (0), read back from its "API on" line: no window in which another
 * process could take it.
 */
export async function startControlPlaneProcess(
  dataDir = mkdtempSync(join(tmpdir(), 'skiff-cp-')),
  port?: number,
  env: Record<string, string> = {},
): Promise<ControlPlaneProc> {
  const token = 'test-user-token';
  seedTestPki(dataDir);
  const proc = await start(
    process.execPath,
    [controlPlaneBin],
    {
      SKIFF_DATA_DIR: dataDir,
      SKIFF_API_PORT: String(port ?? 0),
      SKIFF_API_TOKEN: token,
      SKIFF_ROUTER_TOKEN: 'test-router-token',
      SKIFF_MEMORY_READY_MS: '20',
      ...env,
    },
    /API on https?:\/\/[^\s,]+:\d+,/,
    // Loading the control plane's source through tsx takes a loaded machine well over 15 s.
    60_000,
  );
  const bound = /API on (https?):\/\/[^\s,]+:(\d+)/.exec(proc.output());
  const scheme = bound?.[1] ?? 'https';
  const p = Number(bound?.[2]);
  return {
    proc,
    url: `${scheme}://127.0.0.1:${p}`,
    port: p,
    dataDir,
    token,
    fetch: fetchTrusting(readFileSync(join(dataDir, 'ca.crt'), 'utf8')),
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `skiff` bin against `cp` (its CA found in its data dir). */
export function skiff(
  args: string[],
  cp: { url: string; token: string; dataDir?: string },
  stdin?: string,
  env: Record<string, string> = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliBin, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        SKIFF_SERVER: cp.url,
        SKIFF_TOKEN: cp.token,
        ...(cp.dataDir ? { SKIFF_DATA_DIR: cp.dataDir } : {}),
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}
