#!/usr/bin/env node
// A small HTTP app for Skiff's tests and benchmarks; listens on $PORT (default 8080).
//
//   GET  /                      "Hello <TARGET>!" (TARGET from env, default "World")
//   GET  /sleep?ms=N            answers after N ms
//   GET  /status?code=N         answers with status N
//   POST /echo                  streams the request body back
//   POST /upload                reads the body, answers {"bytes": N}
//   GET  /download?bytes=N      streams N bytes (64 KiB chunks, with backpressure)
//   GET  /slow-start?ms=N       sends headers after N ms, then the body
//   GET  /stall?ms=N            sends headers and a first chunk, waits N ms, then ends
//   GET  /events?n=N&ms=M       server-sent events: N events (`data: <i>`), M ms apart
//   GET  /headers               the request line and headers as JSON
//   GET  /env                   PORT, HOST and K_* variables as JSON
//   GET  /exclusive?ms=N        500 if another /exclusive request overlaps this one (N ms)
//   GET  /counters              {overlaps, maxConcurrent} seen by /exclusive, {aborted} /sleep requests
//   GET  /healthz               200 unless /unready was called (503)
//   POST /unready, /ready       flip /healthz
//   Upgrade: any                answers 101 and echoes bytes both ways
//
// Env: PORT, HOST (the address to listen on; default 127.0.0.1; LISTEN_ALL=1 listens on every
// address, as most apps do), TARGET, READY_DELAY_MS (listen only after this long), EXIT_AFTER_MS (crash after),
// KEEP_ALIVE_MS (how long the app keeps an idle connection; default 65 s), ERROR_PERCENT (GET /
// answers 500 for exactly this share of requests, spread evenly: 20 = every 5th), LATENCY_MS
// (GET / answers after this long).
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.LISTEN_ALL === '1' ? undefined : (process.env.HOST ?? '127.0.0.1');
const target = process.env.TARGET ?? 'World';
let healthy = true;
let exclusive = 0;
let maxConcurrent = 0;
let overlaps = 0;
let aborted = 0;
let served = 0;
const errorPercent = Number(process.env.ERROR_PERCENT ?? 0);
const latencyMs = Number(process.env.LATENCY_MS ?? 0);

const json = (res, status, value) => {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
const text = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://app');
  const ms = Number(url.searchParams.get('ms') ?? 0);
  switch (url.pathname) {
    case '/': {
      served++;
      // The n-th request fails when n × percent / 100 crosses a whole number: an exact, even share.
      const fail = Math.floor((served * errorPercent) / 100) !== Math.floor(((served - 1) * errorPercent) / 100);
      const answer = () => (fail ? text(res, 500, 'failing on purpose\n') : text(res, 200, `Hello ${target}!\n`));
      if (latencyMs > 0) setTimeout(answer, latencyMs);
      else answer();
      return;
    }
    case '/sleep': {
      const timer = setTimeout(() => text(res, 200, `slept ${ms}\n`), ms);
      res.once('close', () => {
        clearTimeout(timer);
        if (!res.writableFinished) aborted++;
      });
      return;
    }
    case '/status':
      return text(res, Number(url.searchParams.get('code') ?? 200), 'status\n');
    case '/echo': {
      const headers = { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' };
      if (req.headers['content-length']) headers['content-length'] = req.headers['content-length'];
      res.writeHead(200, headers);
      req.pipe(res);
      return;
    }
    case '/upload': {
      let bytes = 0;
      req.on('data', (chunk) => {
        bytes += chunk.length;
      });
      req.on('end', () => json(res, 200, { bytes }));
      return;
    }
    case '/download': {
      let left = Number(url.searchParams.get('bytes') ?? 0);
      const chunk = Buffer.alloc(64 * 1024, 120);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    case '/slow-start': {
      const timer = setTimeout(() => text(res, 200, 'started\n'), ms);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    case '/stall': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first\n');
      const timer = setTimeout(() => res.end('last\n'), ms);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    case '/events': {
      const n = Number(url.searchParams.get('n') ?? 3);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const tick = () => {
        res.write(`data: ${i}\n\n`);
        if (++i < n) timer = setTimeout(tick, ms);
        else res.end();
      };
      let timer = setTimeout(tick, 0);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    case '/headers':
      return json(res, 200, { method: req.method, url: req.url, headers: req.headers });
    case '/env':
      return json(
        res,
        200,
        Object.fromEntries(
          Object.entries(process.env).filter(([k]) => k === 'PORT' || k === 'HOST' || k.startsWith('K_')),
        ),
      );
    case '/exclusive': {
      exclusive++;
      maxConcurrent = Math.max(maxConcurrent, exclusive);
      const overlapped = exclusive > 1;
      if (overlapped) overlaps++;
      setTimeout(() => {
        exclusive--;
        text(res, overlapped ? 500 : 200, overlapped ? 'overlap\n' : 'alone\n');
      }, ms);
      return;
    }
    case '/counters':
      return json(res, 200, { overlaps, maxConcurrent, aborted });
    case '/healthz':
      return text(res, healthy ? 200 : 503, healthy ? 'ok\n' : 'unhealthy\n');
    case '/unready':
      healthy = false;
      return text(res, 200, 'now unready\n');
    case '/ready':
      healthy = true;
      return text(res, 200, 'now ready\n');
    default:
      return text(res, 404, 'not found\n');
  }
});

server.on('upgrade', (_req, socket, head) => {
  socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
  if (head.length) socket.write(head);
  socket.pipe(socket);
});

server.keepAliveTimeout = Number(process.env.KEEP_ALIVE_MS ?? 65_000);
const listen = () => server.listen(port, host, () => process.stdout.write(`app listening on ${port}\n`));
const delay = Number(process.env.READY_DELAY_MS ?? 0);
if (delay > 0) setTimeout(listen, delay);
else listen();
if (process.env.EXIT_AFTER_MS) setTimeout(() => process.exit(3), Number(process.env.EXIT_AFTER_MS));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
