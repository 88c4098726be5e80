/**
 * Where queue-proxies push their stats (Knative moved from scraping to a push over one websocket
 * per pod): one `POST` per replica kept open, its body a stream of `Stat`s as newline-delimited
 * JSON, one a second, authenticated once with the router token. The control plane answers when
 * the stream ends (204) or at the first bad line (a 400 `Status` naming the line and field).
 */
export const statsPushPath = '/internal/v1/stats';
/** The longest line a stats stream may carry (a `Stat` is about 300 bytes). */
export const maxStatLineBytes = 16 * 1024;
