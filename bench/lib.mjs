// Helpers shared by the benchmark scripts: processes, free ports, nginx, wrk.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';

export function need(command, hint) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    console.error(`${command} is not installed: ${hint}`);
    process.exit(1);
  }
}

/**
 * `fetch` for a control plane's HTTPS API, trusting the CA it made in `dataDir` (as
 * `fetchTrusting` in `@skiff/http/tls`, which plain `node` cannot import from TypeScript).
 */
export function apiFetch(dataDir) {
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(dataDir, 'ca.crt'), 'utf8') } });
  return (url, init = {}) => undiciFetch(url, { ...init, dispatcher });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/** Starts a process and resolves once its output matches `ready` (or at once for `null`) within `timeoutMs`. */
export function start(command, args, env, ready, timeoutMs = 15_000) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} not ready:\n${out}`)), timeoutMs);
    const check = () => {
      if (ready === null || ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', (d) => {
      out += d;
      check();
    });
    child.stderr.on('data', (d) => {
      out += d;
      check();
    });
    child.once('exit', (code) => reject(new Error(`${command} exited ${code}:\n${out}`)));
    check();
  });
}

/** nginx as a keep-alive reverse proxy in front of `upstreamPort`, with `workers` worker processes. */
export async function startNginx(listenPort, upstreamPort, workers = 1) {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes ${workers};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
    }
  }
}
`,
  );
  const child = await start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], {}, null);
  await waitForPort(listenPort);
  return child;
}

export async function waitForPort(port, path = '/') {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers on ${port}`);
}

function toMs(value, unit) {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/** Runs wrk against `url` and returns requests/s, p50 and p99 latency in ms, and errors. */
export function wrk(url, { seconds = 5, connections = 50, threads = 1 } = {}) {
  const out = execFileSync('wrk', [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', url], {
    encoding: 'utf8',
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)`).exec(out);
    return m ? toMs(m[1], m[2]) : Number.NaN;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  return { rps, requests, p50: pct(50), p99: pct(99), errors: Number(errors), socketErrors };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function machine() {
  const cpus = execFileSync('nproc', { encoding: 'utf8' }).trim();
  const model = /model name\s*:\s*(.*)/.exec(execFileSync('cat', ['/proc/cpuinfo'], { encoding: 'utf8' }))?.[1] ?? '?';
  return `${cpus} cores (${model}), Node ${process.version}`;
}
