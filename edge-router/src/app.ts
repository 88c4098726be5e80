import { coldStartBreakdown, isColdStart, type SnapshotRevision, serverTiming } from '@skiff/shared';
import { type Context, Hono } from 'hono';
import { answers, plainText } from './answers.ts';
import { maxRequestHeadBytes, type RouterConfig } from './config.ts';
import type { ConnectProbe } from './forward/connect-probe.ts';
import {
  clientAddress as cleanAddress,
  connectionTokens,
  forwarded,
  isHopByHop,
  proxyRequestHeader,
  proxyRequestValue,
  revisionHeader,
  tagHeader,
  xForwardedFor,
} from './forward/headers.ts';
import { type Gate, type GateLease, QueueFullError } from './hold/gate.ts';
import type { Resolution } from './routing/table.ts';
import type { Fetch } from './snapshot/control-plane.ts';

/** What the app needs from the runtime it runs in. */
export interface AppOptions {
  config: RouterConfig;
  /** Host (and tag header) → revision, from the routing snapshot this runtime keeps. */
  resolve(host: string | null, tag: string | null, c: Context): Resolution | Promise<Resolution>;
  gate: Gate;
  /** The runtime's fetch, to the endpoints. */
  fetch: Fetch;
  /**
   * The runtime's fetch over HTTP/2 with prior knowledge (h2c), for revisions whose port is named
   * h2c (Deno); absent where the runtime's fetch speaks only HTTP/1.1 to endpoints (Workers), and
   * such a revision is answered 502.
   */
  h2cFetch?: Fetch;
  /** Whether `fetch` failed because the endpoint refused the connection (nothing was sent). */
  isConnectRefused(error: unknown): boolean;
  /** For a runtime whose `fetch` reports a refused connection like any other failure (Workers). */
  connectProbe?: ConnectProbe;
  clientAddress(c: Context): string | undefined;
  /** Keeps work alive after the response has gone (Workers' `waitUntil`); plain promises elsewhere. */
  background?(c: Context, work: Promise<unknown>): void;
}

/** Why a request's work was stopped, carried as the abort reason. */
class Stopped extends Error {
  readonly why: 'client' | 'timeout';
  constructor(why: 'client' | 'timeout') {
    super(why === 'client' ? 'the client went away' : 'the revision timeout passed');
    this.why = why;
  }
}

class BodyTooLarge extends Error {}

/**
 * The router as a web-standard `Request → Response` app (Deno and Workers run it as is): find the
 * revision for the host, wait for a slot on one of its endpoints, forward with streaming both
 * ways, and release the slot when the response body ends. Time spent waiting counts toward the
 * revision's timeout.
 */
export function createApp(options: AppOptions): Hono {
  const { config, gate } = options;
  const background =
    options.background ??
    ((_c: Context, work: Promise<unknown>) => {
      work.catch(() => undefined);
    });

  return new Hono().all('*', async (c) => {
    const req = c.req.raw;
    const arrived = Date.now();
    if (headBytes(req) > maxRequestHeadBytes) return plain(answers.headersTooLarge);
    const host = requestHost(req);
    const resolution = await options.resolve(host, req.headers.get(tagHeader), c);
    if (!resolution.ok) return plainText(resolution.status, resolution.message);
    const revision = resolution.revision;
    const declared = req.headers.get('content-length');
    if (config.maxBodyBytes > 0 && declared !== null && Number(declared) > config.maxBodyBytes) {
      return plain(answers.bodyTooLarge(config.maxBodyBytes));
    }

    let fetchUpstream = options.fetch;
    if (revision.protocol === 'h2c') {
      // gRPC's status comes in trailers, which no web-standard fetch or Response carries: a call
      // is refused before it reaches the app, rather than run there with its outcome lost.
      if ((req.headers.get('content-type') ?? '').startsWith('application/grpc')) return grpcUnsupported();
      if (options.h2cFetch === undefined) {
        return plain(answers.upstreamFailed(revision.name, "its port is h2c and this runtime's fetch speaks HTTP/1.1"));
      }
      fetchUpstream = options.h2cFetch;
    }

    const stop = new AbortController();
    const timers = new Timers(revision, stop);
    const onClientGone = () => stop.abort(new Stopped('client'));
    req.signal.addEventListener('abort', onClientGone, { once: true });
    const cleanup = () => {
      timers.clear();
      req.signal.removeEventListener('abort', onClientGone);
    };

    let lease: GateLease;
    try {
      lease = await gate.acquire(revision, stop.signal, (work) => background(c, work));
    } catch (error) {
      cleanup();
      const answer =
        error instanceof QueueFullError ? plain(answers.queueFull(revision.name)) : stoppedAnswer(error, revision);
      // 499: the client went away; nobody got an answer to count.
      if (answer.status !== 499) {
        background(c, gate.answeredUnleased(revision, { status: answer.status, ms: Date.now() - arrived }));
      }
      return answer;
    }

    // A held request's wait (kept if a refused connection moves it to another endpoint).
    const wait = lease.wait;
    const client = cleanAddress(options.clientAddress(c));
    const headers = forwardHeaders(req, client, lease.held);
    let tooLarge = false;
    let body: ReadableStream<Uint8Array> | null = req.body;
    if (body !== null && config.maxBodyBytes > 0) {
      body = body.pipeThrough(limitBytes(config.maxBodyBytes, () => (tooLarge = true)));
    }
    const target = new URL(req.url);
    let upstream: Response | undefined;
    let failure: unknown;
    // Where the runtime's fetch cannot tell a refusal apart, ask first, while a retry is possible.
    const probe = options.connectProbe;
    const mayProbe = probe !== undefined && revision.endpoints.length > 1;
    for (let attempt = 0; upstream === undefined; attempt++) {
      let refused = false;
      try {
        if (attempt === 0 && mayProbe && !(await probe.accepts(lease.url, stop.signal))) refused = true;
        else {
          upstream = await fetchUpstream(lease.url + target.pathname + target.search, {
            method: req.method,
            headers,
            body,
            redirect: 'manual',
            signal: stop.signal,
            // @ts-expect-error `duplex` is required for streaming request bodies but not yet in lib.dom.
            duplex: 'half',
          });
          probe?.outcome(lease.url, true);
        }
      } catch (error) {
        if (!stop.signal.aborted) probe?.outcome(lease.url, false);
        // Retry once, elsewhere, only when nothing can have reached the app: the connection was
        // refused and there was no body to send (a streamed body cannot be replayed).
        refused = attempt === 0 && req.body === null && !stop.signal.aborted && options.isConnectRefused(error);
        if (!refused) {
          failure = error;
          break;
        }
      }
      if (refused) {
        const next = await gate.retryElsewhere(revision, lease);
        if (next === undefined) {
          cleanup();
          return plain(answers.upstreamFailed(revision.name, 'connection refused'));
        }
        lease = next;
      }
    }
    if (upstream === undefined) {
      cleanup();
      const answer = tooLarge
        ? plain(answers.bodyTooLarge(config.maxBodyBytes))
        : stop.signal.aborted
          ? stoppedAnswer(stop.signal.reason, revision)
          : plain(answers.upstreamFailed(revision.name, describe(failure)));
      // 499: the client went away; nobody got an answer to count.
      const counted = answer.status === 499 ? undefined : { status: answer.status, ms: Date.now() - arrived };
      background(c, gate.release(revision, lease, counted));
      return answer;
    }
    timers.responseStarted();

    const responseHeaders = new Headers();
    const connection = connectionTokens(upstream.headers.get('connection'));
    upstream.headers.forEach((value, name) => {
      if (!isHopByHop(name, connection)) responseHeaders.append(name, value);
    });
    if (config.revisionHeader) responseHeaders.set(revisionHeader, revision.name);
    // The phases of a held request's wait, first byte now, beside any the app sent (as the Node router).
    if (wait !== undefined) {
      const phases = coldStartBreakdown(wait.heldAt, wait.releasedAt, Date.now(), wait.coldStart);
      responseHeaders.append('server-timing', serverTiming(phases));
      if (isColdStart(wait.heldAt, wait.coldStart))
        background(c, gate.coldStarted(revision, wait.heldAt, wait.coldStart.decidedAt, phases));
    }

    let finished = false;
    // A response cut off (client gone, idle timeout) counts as its status: the app did answer.
    const upstreamStatus = upstream.status;
    const finish = () => {
      if (finished) return;
      finished = true;
      cleanup();
      background(c, gate.release(revision, lease, { status: upstreamStatus, ms: Date.now() - arrived }));
    };
    stop.signal.addEventListener('abort', finish, { once: true });
    if (upstream.body === null) {
      finish();
      return new Response(null, { status: upstream.status, headers: responseHeaders });
    }
    const counted = upstream.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          timers.wrote();
          controller.enqueue(chunk);
        },
        flush: finish,
      }),
    );
    return new Response(counted, { status: upstream.status, headers: responseHeaders });
  });
}

/**
 * The revision's three timeouts, as Knative's timeout handler applies them: the total (from
 * arrival, so time held counts), the response start (until the first byte of the response) and
 * idle (since the last byte written). Each stops the request's work through one AbortController.
 */
class Timers {
  #total: ReturnType<typeof setTimeout> | undefined;
  #start: ReturnType<typeof setTimeout> | undefined;
  #idle: ReturnType<typeof setTimeout> | undefined;
  readonly #idleMs: number;
  readonly #stop: AbortController;

  constructor(revision: SnapshotRevision, stop: AbortController) {
    this.#stop = stop;
    const fire = () => stop.abort(new Stopped('timeout'));
    if (revision.timeoutSeconds > 0) this.#total = setTimeout(fire, revision.timeoutSeconds * 1000);
    const startSeconds = revision.responseStartTimeoutSeconds ?? 0;
    if (startSeconds > 0) this.#start = setTimeout(fire, startSeconds * 1000);
    this.#idleMs = (revision.idleTimeoutSeconds ?? 0) * 1000;
  }

  responseStarted(): void {
    cancel(this.#start);
    this.wrote();
  }

  wrote(): void {
    if (this.#idleMs <= 0) return;
    cancel(this.#idle);
    this.#idle = setTimeout(() => this.#stop.abort(new Stopped('timeout')), this.#idleMs);
  }

  clear(): void {
    cancel(this.#total);
    cancel(this.#start);
    cancel(this.#idle);
  }
}

function cancel(timer: ReturnType<typeof setTimeout> | undefined): void {
  if (timer !== undefined) clearTimeout(timer);
}

function stoppedAnswer(reason: unknown, revision: SnapshotRevision): Response {
  if (reason instanceof Stopped && reason.why === 'timeout') return plain(answers.timeout(revision.name));
  // The client is gone: nobody reads this, but the runtime wants a response.
  return plainText(499, 'client closed request');
}

/**
 * A gRPC call this runtime cannot carry, answered as gRPC does a call it cannot serve: trailers-only
 * (HTTP 200, the status in the headers), UNIMPLEMENTED.
 */
function grpcUnsupported(): Response {
  const message = "gRPC needs the router on Node: this runtime's fetch does not carry trailers (grpc-status)";
  return new Response(null, {
    status: 200,
    headers: { 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': encodeURIComponent(message) },
  });
}

function plain(answer: { status: number; message: string }): Response {
  return plainText(answer.status, answer.message);
}

/** Size of the request head as it came in (request line and header lines), for the 16 KiB limit. */
function headBytes(req: Request): number {
  let n = req.method.length + req.url.length + 12;
  req.headers.forEach((value, name) => {
    n += name.length + value.length + 4;
  });
  return n;
}

/** The host a request is for: `Host`, or over HTTP/2 the `:authority` the runtime put in the URL. */
function requestHost(req: Request): string | null {
  return req.headers.get('host') ?? new URL(req.url).host;
}

function forwardHeaders(req: Request, client: string, held: boolean): Headers {
  const out = new Headers();
  const connection = connectionTokens(req.headers.get('connection'));
  req.headers.forEach((value, name) => {
    // The runtime's fetch decodes compressed responses itself, so the app must not compress.
    if (name === 'accept-encoding' || isHopByHop(name, connection)) return;
    out.set(name, value);
  });
  const host = requestHost(req) ?? undefined;
  // HTTP/2 has no Host (its :authority is in the URL): the app gets one, as over HTTP/1.1.
  if (!out.has('host') && host !== undefined) out.set('host', host);
  const proto = req.headers.get('x-forwarded-proto') ?? new URL(req.url).protocol.replace(':', '');
  out.set('x-forwarded-for', xForwardedFor(req.headers.get('x-forwarded-for') ?? undefined, client));
  out.set('forwarded', forwarded(req.headers.get('forwarded') ?? undefined, client, host, proto));
  out.set('x-forwarded-proto', proto);
  if (host !== undefined && !out.has('x-forwarded-host')) out.set('x-forwarded-host', host);
  if (held) out.set(proxyRequestHeader, proxyRequestValue);
  else out.delete(proxyRequestHeader);
  return out;
}

function limitBytes(limit: number, onExceeded: () => void): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > limit) {
        onExceeded();
        controller.error(new BodyTooLarge(`request body larger than ${limit} bytes`));
        return;
      }
      controller.enqueue(chunk);
    },
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
