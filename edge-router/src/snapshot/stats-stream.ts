import { type RouterStats, routerStatLines, statsPushPath } from '@skiff/shared';
import type { Fetch } from './control-plane.ts';

/** How long one request carries the stream before the next is opened (the server cuts long ones). */
const streamMs = 60_000;
/** Lines waiting for the connection; more are dropped, not queued (the autoscaler wants the newest). */
const queuedLines = 8;

/**
 * The router's side of the stats stream (`statsPushPath`), the same one the queue-proxies push
 * over: one `POST` kept open whose body is a line of newline-delimited JSON per report, ended and
 * reopened each minute. A report is dropped while the stream is down or backed up; the next one
 * opens another stream. Web-standard (a streamed request body), so every runtime of the router
 * sends its stats the same way.
 */
export class StatsStream {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: Fetch;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #openedAt = 0;
  /** Why the last stream ended early, until a report says so. */
  #failure: Error | undefined;
  readonly #encoder = new TextEncoder();
  /** Reports not sent (stream down or backed up). */
  dropped = 0;

  constructor(baseUrl: string, headers: Record<string, string>, fetchFn: Fetch) {
    this.#url = `${baseUrl}${statsPushPath}`;
    this.#headers = headers;
    this.#fetch = fetchFn;
  }

  /**
   * Sends one report. Rejects, once, with why the stream broke since the last report (this one goes
   * out on a new stream); so a caller logs each failure once.
   */
  async send(stats: RouterStats, now = Date.now()): Promise<void> {
    const failure = this.#failure;
    this.#failure = undefined;
    if (this.#writer === undefined || now - this.#openedAt >= streamMs) this.#open(now);
    const writer = this.#writer as WritableStreamDefaultWriter<Uint8Array>;
    const lines = routerStatLines(stats);
    if ((writer.desiredSize ?? 0) < lines.length) this.dropped++;
    else for (const line of lines) void writer.write(this.#encoder.encode(line)).catch(() => {});
    if (failure) throw failure;
  }

  /** Ends the stream (the control plane answers 204). */
  close(): void {
    void this.#writer?.close().catch(() => {});
    this.#writer = undefined;
  }

  #open(now: number): void {
    this.close();
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(undefined, {
      highWaterMark: queuedLines,
    });
    const writer = writable.getWriter();
    this.#writer = writer;
    this.#openedAt = now;
    writer.closed.catch(() => {}); // a broken stream is reported by the response below
    const failed = (error: Error) => {
      void writer.abort(error).catch(() => {});
      // One rotated away already lost nothing worth a word.
      if (this.#writer !== writer) return;
      this.#writer = undefined;
      this.#failure = error;
    };
    const init = {
      method: 'POST',
      headers: { ...this.#headers, 'content-type': 'application/x-ndjson' },
      body: readable,
      duplex: 'half',
    };
    this.#fetch(this.#url, init as RequestInit).then(
      async (response) => {
        if (response.status === 204) {
          await response.body?.cancel();
          return;
        }
        const text = (await response.text()).slice(0, 200);
        failed(new Error(`control plane answered POST ${statsPushPath} with ${response.status}: ${text}`));
      },
      (error: unknown) => failed(error instanceof Error ? error : new Error(String(error))),
    );
  }
}
