import { connect } from 'node:net';
import type { Probe } from '@skiff/shared';

// `node:http` and `node:child_process` are loaded by the first httpGet or exec probe: the default
// probe (tcpSocket) needs neither, and each module loaded is resident memory of every replica.

/** One attempt at a readiness probe: true when the app answered as ready within `timeoutMs`. */
export type ProbeAttempt = (timeoutMs: number) => Promise<boolean>;

/**
 * Builds the attempt for a probe (tcpSocket, httpGet or exec) against the app on `host:port`.
 * A probe's own port is ignored: the app is always probed on the port it serves on.
 */
export function probeAttempt(probe: Probe, host: string, port: number): ProbeAttempt {
  if (probe.httpGet) {
    const get = probe.httpGet;
    const headers: Record<string, string> = { 'user-agent': 'Skiff-Queue-Proxy-Probe', 'k-network-probe': 'queue' };
    for (const h of get.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    const path = get.path ? (get.path.startsWith('/') ? get.path : `/${get.path}`) : '/';
    return (timeoutMs) => httpProbe(get.host || host, port, path, headers, timeoutMs);
  }
  if (probe.exec?.command?.length) {
    const command = probe.exec.command;
    return (timeoutMs) => execProbe(command, timeoutMs);
  }
  return (timeoutMs) => tcpProbe(probe.tcpSocket?.host || host, port, timeoutMs);
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function httpProbe(
  host: string,
  port: number,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(ok);
    };
    const req = process
      .getBuiltinModule('node:http')
      .request({ host, port, path, method: 'GET', headers, agent: false }, (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        done(status >= 200 && status < 400);
      });
    const timer = setTimeout(() => done(false), timeoutMs);
    req.once('error', () => done(false));
    req.end();
  });
}

function execProbe(command: string[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const [file = '', ...args] = command;
    const child = process
      .getBuiltinModule('node:child_process')
      .spawn(file, args, { stdio: 'ignore', timeout: timeoutMs, killSignal: 'SIGKILL' });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}
