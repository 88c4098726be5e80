#!/usr/bin/env node
// The least a node:http2 hop can do, as a peer for bench/data-plane.mjs: each stream on $PORT goes
// on as a stream of one h2c session to 127.0.0.1:$UPSTREAM_PORT, headers, data and trailers passed
// on as they are, nothing decided. What a Skiff hop costs beyond it is Skiff's own work.
import { connect as connectHttp2, createServer } from 'node:http2';
import { connect } from 'node:net';

const upstreamPort = Number(process.env.UPSTREAM_PORT);
const upstream = connectHttp2(`http://127.0.0.1:${upstreamPort}`, {
  createConnection: () => connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true }),
});
upstream.on('error', (e) => {
  console.error(`upstream: ${e.message}`);
  process.exit(1);
});
const server = createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const out = {};
  for (const name of Object.keys(headers)) out[name] = headers[name];
  const req = upstream.request(out);
  req.on('error', () => {});
  stream.on('data', (c) => req.write(c));
  stream.on('end', () => req.end());
  stream.on('close', () => req.destroyed || req.close());
  let trailers;
  req.on('response', (h) => {
    if (stream.destroyed) return;
    stream.respond(h, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(trailers ?? {}));
  });
  req.on('trailers', (t) => {
    trailers = t;
  });
  req.on('data', (c) => stream.destroyed || stream.write(c));
  req.on('end', () => stream.destroyed || stream.end());
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('bare hop listening'));
