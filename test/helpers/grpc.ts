import * as grpc from '@grpc/grpc-js';

// A client for test/apps/grpc.mjs (messages as JSON), through whatever hop listens on `port`,
// with `authority` as the :authority the router routes by.
const serialize = (v: unknown) => Buffer.from(JSON.stringify(v));
const deserialize = (b: Buffer) => JSON.parse(b.toString());

export interface CallResult<T> {
  value?: T;
  values: T[];
  status: grpc.StatusObject;
}

export class TestGrpcClient {
  readonly client: grpc.Client;

  /** With `caPem`: over TLS (h2 by ALPN), trusting that CA, SNI and :authority `authority`. */
  constructor(port: number, authority: string, caPem?: string) {
    const credentials =
      caPem === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(Buffer.from(caPem));
    this.client = new grpc.Client(`127.0.0.1:${port}`, credentials, {
      'grpc.default_authority': authority,
      ...(caPem === undefined ? {} : { 'grpc.ssl_target_name_override': authority }),
    });
  }

  close(): void {
    this.client.close();
  }

  /** A unary call; resolves with its value (if any) and final status, trailers included. */
  unary<T>(name: string, request: unknown, deadlineMs = 20_000): Promise<CallResult<T>> {
    return new Promise((resolve) => {
      let value: T | undefined;
      const call = this.client.makeUnaryRequest<unknown, T>(
        `/skiff.Test/${name}`,
        serialize,
        deserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (_error, v) => {
          value = v;
        },
      );
      call.on('status', (status) => setImmediate(() => resolve({ value, values: [], status })));
    });
  }

  /** A server-streaming call: every message and the final status. */
  serverStream<T>(name: string, request: unknown, deadlineMs = 20_000): Promise<CallResult<T>> {
    return new Promise((resolve) => {
      const values: T[] = [];
      const call = this.client.makeServerStreamRequest<unknown, T>(
        `/skiff.Test/${name}`,
        serialize,
        deserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
      );
      call.on('data', (v: T) => values.push(v));
      call.on('error', () => {});
      call.on('status', (status) => resolve({ values, status }));
    });
  }

  /** A client-streaming call: sends `messages`, resolves with the one answer. */
  clientStream<T>(name: string, messages: unknown[]): Promise<CallResult<T>> {
    return new Promise((resolve) => {
      let value: T | undefined;
      const call = this.client.makeClientStreamRequest<unknown, T>(
        `/skiff.Test/${name}`,
        serialize,
        deserialize,
        new grpc.Metadata(),
        { deadline: Date.now() + 20_000 },
        (_error, v) => {
          value = v;
        },
      );
      call.on('status', (status) => setImmediate(() => resolve({ value, values: [], status })));
      for (const m of messages) call.write(m);
      call.end();
    });
  }

  /** A bidirectional call: each message is sent only after the answer to the one before came back. */
  bidi<T>(name: string, messages: unknown[]): Promise<CallResult<T>> {
    return new Promise((resolve) => {
      const values: T[] = [];
      const call = this.client.makeBidiStreamRequest<unknown, T>(
        `/skiff.Test/${name}`,
        serialize,
        deserialize,
        new grpc.Metadata(),
        { deadline: Date.now() + 20_000 },
      );
      let i = 0;
      const next = () => {
        if (i < messages.length) call.write(messages[i++]);
        else call.end();
      };
      call.on('data', (v: T) => {
        values.push(v);
        next();
      });
      call.on('error', () => {});
      call.on('status', (status) => resolve({ values, status }));
      next();
    });
  }
}

export { grpc };
