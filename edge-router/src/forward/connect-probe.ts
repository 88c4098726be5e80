/**
 * Learns that an endpoint refuses connections before a request is sent to it, for a runtime whose
 * failed `fetch` cannot say whether the request reached the app (Workers).
 */
export interface ConnectProbe {
  /**
   * Whether the endpoint accepts a connection, asked when the revision has another endpoint to
   * retry on. `false` sends the request elsewhere, body and all: nothing of it was sent.
   */
  accepts(url: string, signal: AbortSignal): Promise<boolean>;
  /** What became of a request sent to `url`: answered (a response head came back) or failed. */
  outcome(url: string, answered: boolean): void;
}

/** Endpoints remembered as answering; past this many the memory starts over. */
const maxRemembered = 10_000;

/**
 * Asks an endpoint (`ask`: opens a connection and closes it) until a request to it has been
 * answered, and again after a request to it failed. A revision whose endpoints answer pays nothing;
 * a dead endpoint that never answered, or one whose last request failed, is found refusing before
 * anything is sent. What it cannot spare: requests already on their way to an endpoint that
 * answered until now and then refuses fail with 502 (their fetch error cannot be told from a lost
 * request); the next ones ask first.
 */
export class RememberingProbe implements ConnectProbe {
  readonly #ask: (url: string, signal: AbortSignal) => Promise<boolean>;
  readonly #answered = new Set<string>();

  constructor(ask: (url: string, signal: AbortSignal) => Promise<boolean>) {
    this.#ask = ask;
  }

  accepts(url: string, signal: AbortSignal): Promise<boolean> {
    return this.#answered.has(url) ? Promise.resolve(true) : this.#ask(url, signal);
  }

  outcome(url: string, answered: boolean): void {
    if (!answered) this.#answered.delete(url);
    else if (!this.#answered.has(url)) {
      if (this.#answered.size >= maxRemembered) this.#answered.clear();
      this.#answered.add(url);
    }
  }
}
