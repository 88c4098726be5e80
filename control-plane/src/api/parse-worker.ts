import { Worker } from 'node:worker_threads';
import { type Format, failure, type Parsed, parseDocument, type Status } from '@skiff/shared';
import type { ParseRequest } from './parse-thread.ts';

/**
 * YAML bodies at least this large are parsed on the parsing thread. The yaml library reads about
 * 0.3–1 MB/s, so a 257 KB manifest held the event loop (and every request through a router
 * sharing it) for half a second; below this size parsing costs less than the hop to the thread.
 */
export const offThreadBytes = 16 * 1024;

/**
 * The most one parse may take before its body is refused. A 250 KB manifest takes well under a
 * second; 3 MiB of one-line list items took 18 s on a busy machine, which no manifest needs.
 */
const parseTimeoutMs = 10_000;

/** The most the thread may take to load (tsx and the parser, from source): seconds when busy. */
const loadTimeoutMs = 60_000;

interface Job {
  text: string;
  format: Format;
  resolve: (parsed: Parsed<unknown>) => void;
}

const queue: Job[] = [];
let worker: Worker | undefined;
/** Whether the thread has loaded (its first message); a body's time starts then. */
let loaded = false;
let current: { job: Job; timer?: NodeJS.Timeout } | undefined;

/**
 * Parses a body that must hold one document, as `parseDocument` does: large YAML on one
 * long-lived thread (started on first use, never keeping the process alive), one body at a time;
 * JSON and small YAML inline.
 */
export function parseBody(text: string, format: Format): Promise<Parsed<unknown>> {
  if (format === 'json' || text.length < offThreadBytes) return Promise.resolve(parseDocument(text, format));
  return new Promise((resolve) => {
    queue.push({ text, format, resolve });
    if (!current) next();
  });
}

function next(): void {
  const job = queue.shift();
  if (!job) return;
  const w = worker ?? startWorker();
  current = { job };
  // Held by the thread's port until it has loaded.
  w.postMessage({ id: 0, text: job.text, format: job.format } satisfies ParseRequest);
  if (loaded) startClock();
}

function startClock(): void {
  if (!current || current.timer) return;
  current.timer = setTimeout(() => {
    // A body built to be slow: refuse it and go on with a fresh thread.
    finish(failed(`the request body took more than ${parseTimeoutMs / 1000} s to parse`), true);
  }, parseTimeoutMs);
  current.timer.unref();
}

/** Answers the body being parsed, retiring the thread if it is stuck or broken, then takes the next. */
function finish(parsed: Parsed<unknown>, retire = false): void {
  if (!current) return;
  clearTimeout(current.timer);
  current.job.resolve(parsed);
  current = undefined;
  if (retire && worker) {
    void worker.terminate();
    worker = undefined;
    loaded = false;
  }
  next();
}

function startWorker(): Worker {
  // From source this is src/api/parse-thread.mjs (registers tsx, then loads parse-thread.ts); in
  // the control-plane image, the bundle of parse-thread.ts beside dist/main.js.
  const w = new Worker(new URL('./parse-thread.mjs', import.meta.url), {
    // A body that makes the parser's heap explode ends this thread, not the control plane.
    resourceLimits: { maxOldGenerationSizeMb: 512 },
  });
  loaded = false;
  // A thread that never finishes loading fails the body waiting for it, and the next starts anew.
  setTimeout(() => {
    if (worker === w && !loaded) {
      finish({ ok: false, status: failure('InternalError', 'the YAML parsing thread did not start') }, true);
    }
  }, loadTimeoutMs).unref();
  w.on('message', (m: { ready: true } | { json: string }) => {
    if (worker !== w) return;
    if ('ready' in m) {
      loaded = true;
      startClock();
    } else finish(JSON.parse(m.json) as Parsed<unknown>);
  });
  w.on('error', (e) => {
    if (worker !== w) return;
    // Out of heap is the body's doing; anything else (the thread could not start) is the server's.
    const byBody = (e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
    finish(
      byBody
        ? failed(`the request body could not be parsed: ${e.message}`)
        : { ok: false, status: failure('InternalError', `the YAML parsing thread failed: ${e.message}`) },
      true,
    );
  });
  w.on('exit', () => {
    if (worker !== w) return;
    worker = undefined;
    loaded = false;
    finish(failed('the request body could not be parsed: the parsing thread stopped'));
  });
  // After the listeners, which would hold the process open again.
  w.unref();
  worker = w;
  return w;
}

function failed(message: string): { ok: false; status: Status } {
  return { ok: false, status: failure('RequestEntityTooLarge', message) };
}
