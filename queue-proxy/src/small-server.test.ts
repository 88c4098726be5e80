import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SmallServer } from './small-server.ts';

let server: SmallServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function listen(handler: ConstructorParameters<typeof SmallServer>[0]): Promise<number> {
  server = new SmallServer(handler);
  await server.listen(0, '127.0.0.1');
  return (server.server.address() as { port: number }).port;
}

/** A client's whole conversation: what it sent, everything it read until the server ended. */
function converse(port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(send));
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

describe('SmallServer (the queue-proxy admin and metrics ports)', () => {
  it('answers pipelined bodiless requests in order on one connection, HEAD without a body', async () => {
    const port = await listen((head) => ({ status: 200, body: `${head.method} ${head.target}\n` }));
    const got = await converse(port, 'GET /a HTTP/1.1\r\nhost: x\r\n\r\nHEAD /b HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(got.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(got).toContain('GET /a\n');
    expect(got).not.toContain('HEAD /b\n');
    expect(got.indexOf('GET /a')).toBeLessThan(got.lastIndexOf('HTTP/1.1 200'));
  });

  it('refuses a malformed head with 400 and an oversized one with 431, then closes', async () => {
    const port = await listen(() => ({ status: 200, body: 'no\n' }));
    expect(await converse(port, 'GET / HTTP/1.1\r\nbad header\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 400 .*connection: close/s,
    );
    expect(await converse(port, `GET / HTTP/1.1\r\nx: ${'a'.repeat(200_000)}`)).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('reads no further while a request is answered: a client sending on is held back by TCP', async () => {
    let answer: () => void = () => {};
    const pending = new Promise<void>((r) => (answer = r));
    const port = await listen(async () => {
      await pending;
      return { status: 200, body: 'done\n' };
    });
    const s: Socket = connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('GET /wait-for-drain HTTP/1.1\r\nhost: x\r\n\r\n');
    // 16 MiB sent while the first request waits: the server must not take it all into memory.
    const junk = Buffer.alloc(1 << 20, 'a');
    let drained = false;
    let flowed = true;
    for (let i = 0; i < 16; i++) flowed = s.write(junk) && flowed;
    if (flowed) drained = true;
    else s.once('drain', () => (drained = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(drained).toBe(false);
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    s.on('error', () => {});
    answer();
    await new Promise((r) => s.once('close', r));
    // The first request is answered; what followed is not a head (431) and the connection ends.
    expect(got).toMatch(/^HTTP\/1\.1 200 [\s\S]*done\n[\s\S]*HTTP\/1\.1 431 /);
  });
});
