import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot } from '../helpers/processes.ts';

/** Runs a command to completion, failing with its output when it fails. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`)),
    );
  });
}

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the README quick start', () => {
  it('works on a fresh clone: npm install && npm start, then the printed URL answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-clone-'));
    try {
      execFileSync('git', ['clone', '-q', repoRoot, dir]);
      const env: NodeJS.ProcessEnv = { ...process.env };
      if (existsSync('/usr/include/node/node.h')) env.npm_config_nodedir = '/usr';
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], dir, env);

      const [api, router] = [await freePort(), await freePort()];
      const child = spawn('npm', ['start'], {
        cwd: dir,
        env: { ...env, SKIFF_API_PORT: String(api), SKIFF_ROUTER_PORT: String(router) },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      try {
        const deadline = Date.now() + 60_000;
        while (!/curl (http:\/\/\S+)/.test(out)) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`npm start did not come up:\n${out}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        const url = new URL((/curl (http:\/\/\S+)/.exec(out) as RegExpExecArray)[1] as string);
        expect(url.hostname).toBe('hello.default.localhost');
        expect(Number(url.port)).toBe(router);
        let answer = { status: 0, body: '' };
        for (let i = 0; i < 100 && answer.status !== 200; i++) {
          answer = await get(router, url.host);
          if (answer.status !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        expect(answer).toEqual({ status: 200, body: 'Hello World!\n' });
      } finally {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGINT');
        await new Promise((r) => child.once('exit', r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
