import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { acceptEither } from '../h2/accept.ts';
import { adoptClient, isShared } from './adopt.ts';

describe('adoptClient', () => {
  it('reads an accepted connection into the shared buffer, first bytes included, and its end', async () => {
    const got: string[] = [];
    let adoptedSocket: Socket | undefined;
    const ended = new Promise<void>((resolve) => {
      const server = createServer({ allowHalfOpen: true }, (socket) =>
        acceptEither(
          socket,
          (s) => {
            let view: ((n: number) => Buffer) | undefined;
            const adopted = adoptClient(s, (n) => {
              const bytes = (view as (n: number) => Buffer)(n);
              expect(isShared(bytes)).toBe(true);
              got.push(bytes.toString());
            });
            if (adopted === undefined) throw new Error('not adopted: the socket would be read with data events');
            view = adopted.view;
            adoptedSocket = adopted.socket;
            if (adopted.buffered !== undefined) {
              expect(isShared(adopted.buffered)).toBe(false);
              got.push(adopted.buffered.toString());
            }
            adopted.socket.on('end', () => {
              adopted.socket.end('bye');
              // The server counts the adopted socket: close() completes once it is gone.
              server.close(() => resolve());
            });
          },
          () => {},
        ),
      );
      server.listen(0, '127.0.0.1', async () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        const client = connect({ port, host: '127.0.0.1' });
        await once(client, 'connect');
        client.write('first');
        await new Promise((r) => setTimeout(r, 50));
        client.write('second');
        await new Promise((r) => setTimeout(r, 50));
        client.end();
        let answer = '';
        client.on('data', (d: Buffer) => {
          answer += d.toString();
        });
        await once(client, 'end');
        expect(answer).toBe('bye');
      });
    });
    await ended;
    expect(got.join('|')).toBe('first|second');
    expect(adoptedSocket?.destroyed).toBe(true);
  });

  it('leaves a socket it cannot take as it was', () => {
    const socket = { destroyed: false, _handle: null } as unknown as Socket;
    expect(adoptClient(socket, () => {})).toBeUndefined();
  });
});
