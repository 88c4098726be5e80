import {
  failure,
  fieldPath,
  maxStatLineBytes,
  type RouterStats,
  RouterStatsSchema,
  type Stat,
  StatSchema,
  type Status,
} from '@skiff/shared';

/** Where the lines of a stats stream go: a queue-proxy's `Stat`, or a router's `RouterStats`. */
export interface StatStreamHandlers {
  replica(stat: Stat): void;
  router(stats: RouterStats): void;
}

/**
 * Reads a stats push stream (`statsPushPath`): newline-delimited JSON, each line a replica's `Stat`
 * or (with a `router` field) a router's `RouterStats`, handed on as soon as the line is complete.
 * Resolves with undefined when the client ends the stream, or the connection drops, or with the
 * `Status` for the first bad line (not JSON, neither kind, or longer than `maxStatLineBytes`), after
 * which the rest is not read.
 */
export async function readStatStream(
  body: ReadableStream<Uint8Array> | null,
  handlers: StatStreamHandlers,
): Promise<Status | undefined> {
  if (body === null) return undefined;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  let line = 0;
  const bad = (message: string): Status => {
    void reader.cancel().catch(() => {}); // the answer is the error; a failed cancel changes nothing
    return failure('BadRequest', `stats stream line ${line}: ${message}`);
  };
  const take = (text: string): Status | undefined => {
    line++;
    if (text.trim() === '') return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return bad(`not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    const fromRouter = typeof value === 'object' && value !== null && 'router' in value;
    const parsed = fromRouter ? RouterStatsSchema.safeParse(value) : StatSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const kind = fromRouter ? 'RouterStats' : 'Stat';
      return bad(`${issue ? `${fieldPath(issue.path) || '(the line)'}: ${issue.message}` : `not a ${kind}`}`);
    }
    if (fromRouter) handlers.router(parsed.data as RouterStats);
    else handlers.replica(parsed.data as Stat);
    return undefined;
  };
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch {
      // The replica went away mid-stream (its connection closed): every complete line was taken,
      // and there is no one left to answer.
      return undefined;
    }
    const { done, value } = chunk;
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      const status = take(pending.slice(start, nl));
      if (status) return status;
      start = nl + 1;
    }
    pending = pending.slice(start);
    if (pending.length > maxStatLineBytes) {
      line++;
      return bad(`longer than ${maxStatLineBytes} bytes`);
    }
  }
  pending += decoder.decode();
  return pending.trim() === '' ? undefined : take(pending);
}
