import type { RouterStats } from './stats.ts';

/**
 * Where queue-proxies and routers push their stats (Knative moved from scraping to a push over one
 * websocket per pod): one `POST` per replica or router kept open, its body a stream of
 * newline-delimited JSON, a line a second, authenticated once with the router token. A line is a
 * replica's `Stat`, or a router's `RouterStats` (it has a `router` field). The control plane answers
 * when the stream ends (204) or at the first bad line (a 400 `Status` naming the line and field).
 */
export const statsPushPath = '/internal/v1/stats';
/** The longest line a stats stream may carry (a `Stat` is about 300 bytes). */
export const maxStatLineBytes = 16 * 1024;

const utf8 = new TextEncoder();
const bytes = (text: string) => utf8.encode(text).length;

/**
 * A router's report as stats-stream lines (newline included) of at most `maxBytes` each: one line
 * while it fits, else its revisions and cold starts spread over several, each a `RouterStats` of
 * the same router and period (the control plane takes them revision by revision).
 */
export function routerStatLines(stats: RouterStats, maxBytes = maxStatLineBytes): string[] {
  const whole = `${JSON.stringify(stats)}\n`;
  if (bytes(whole) <= maxBytes) return [whole];
  const head = { router: stats.router, timestamp: stats.timestamp, periodMs: stats.periodMs };
  const empty = bytes(`${JSON.stringify({ ...head, revisions: [], coldStarts: [] })}\n`);
  const lines: string[] = [];
  let line: Pick<RouterStats, 'revisions'> & { coldStarts: NonNullable<RouterStats['coldStarts']> } = {
    revisions: [],
    coldStarts: [],
  };
  let size = empty;
  const flush = () => {
    const { revisions, coldStarts } = line;
    if (revisions.length === 0 && coldStarts.length === 0) return;
    lines.push(`${JSON.stringify({ ...head, revisions, ...(coldStarts.length > 0 ? { coldStarts } : {}) })}\n`);
    line = { revisions: [], coldStarts: [] };
    size = empty;
  };
  const add = <K extends 'revisions' | 'coldStarts'>(key: K, item: (typeof line)[K][number]) => {
    const more = bytes(JSON.stringify(item)) + 1; // and its comma
    if (size + more > maxBytes) flush();
    (line[key] as unknown[]).push(item);
    size += more;
  };
  for (const r of stats.revisions) add('revisions', r);
  for (const c of stats.coldStarts ?? []) add('coldStarts', c);
  flush();
  return lines;
}
