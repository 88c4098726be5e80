#!/usr/bin/env node
// An HTTP server that speaks only HTTP/2 over cleartext (h2c, prior knowledge) on $PORT, as an app
// behind a port named h2c does: answers every request with what it received, as JSON
// {httpVersion, method, path, authority, forwardedFor, forwardedHost, body}.
import { createServer } from 'node:http2';

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        httpVersion: req.httpVersion,
        method: req.method,
        path: req.url,
        authority: req.headers[':authority'],
        forwardedFor: req.headers['x-forwarded-for'],
        forwardedHost: req.headers['x-forwarded-host'],
        body: Buffer.concat(chunks).toString(),
      }),
    );
  });
});
server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1', () =>
  console.log(`h2c app listening on ${server.address().port}`),
);
process.on('SIGTERM', () => process.exit(0));
