#!/usr/bin/env node
// The example service `skiff up` deploys: answers every request with "Hello <TARGET>!", like
// Knative's helloworld samples. Listens on $PORT (default 8080); TARGET defaults to "World".
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const target = process.env.TARGET ?? 'World';
const server = createServer((_req, res) => {
  const body = `Hello ${target}!\n`;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(port, '127.0.0.1', () =>
  console.log(`hello: listening on ${port}, revision ${process.env.K_REVISION ?? '(none)'}`),
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
