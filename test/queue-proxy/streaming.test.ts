import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { get } from '../helpers/http.ts';
import { rssBytes, startApp, startQueueProxy, stopAll } from '../helpers/processes.ts';

afterEach(stopAll);

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Samples a process's RSS every 50 ms while `work` runs; returns the largest growth. */
async function peakGrowth<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const before = rssBytes(pid);
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 50);
  try {
    const result = await work();
    return { result, growth: Math.max(peak, rssBytes(pid)) - before };
  } finally {
    clearInterval(timer);
  }
}

describe('queue-proxy streaming', () => {
  it('streams a 1 GiB upload and a 1 GiB download with its memory growing by less than 64 MiB', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const pid = qp.proc.child.pid as number;

    const upload = await peakGrowth(
      pid,
      () =>
        new Promise<string>((resolve, reject) => {
          const req = request(
            `${qp.url}/upload`,
            { method: 'POST', headers: { 'content-length': String(GiB) } },
            (res) => {
              let body = '';
              res.on('data', (d) => (body += d));
              res.on('end', () => resolve(body));
            },
          );
          req.on('error', reject);
          const chunk = Buffer.alloc(MiB, 97);
          let sent = 0;
          const pump = () => {
            while (sent < GiB) {
              sent += chunk.length;
              if (!req.write(chunk)) {
                req.once('drain', pump);
                return;
              }
            }
            req.end();
          };
          pump();
        }),
    );
    expect(JSON.parse(upload.result)).toEqual({ bytes: GiB });
    expect(upload.growth).toBeLessThan(64 * MiB);

    const download = await peakGrowth(
      pid,
      () =>
        new Promise<number>((resolve, reject) => {
          request(`${qp.url}/download?bytes=${GiB}`, (res) => {
            let bytes = 0;
            res.on('data', (d: Buffer) => (bytes += d.length));
            res.on('end', () => resolve(bytes));
            res.on('error', reject);
          })
            .on('error', reject)
            .end();
        }),
    );
    expect(download.result).toBe(GiB);
    expect(download.growth).toBeLessThan(64 * MiB);
  }, 120_000);

  it('passes chunked request and response bodies through', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${qp.url}/echo`, { method: 'POST' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(`${res.headers['transfer-encoding']}:${text}`));
      });
      req.on('error', reject);
      req.write('part one, ');
      setTimeout(() => req.end('part two'), 50);
    });
    expect(body).toBe('chunked:part one, part two');
  });

  it('stops the upstream request when the client goes away', async () => {
    const app = await startApp();
    const qp = await startQueueProxy(app.port);
    const r = await get(`${qp.url}/sleep?ms=5000`, { timeoutMs: 200 });
    expect(r.error).toBe('client timeout');
    let aborted = 0;
    for (let i = 0; i < 50 && aborted === 0; i++) {
      aborted = JSON.parse((await get(`${app.url}/counters`)).body).aborted;
      await new Promise((res) => setTimeout(res, 20));
    }
    expect(aborted).toBe(1);
  });
});
