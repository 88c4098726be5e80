import { errorCode } from './conn.ts';

/** What is known of an upstream HTTP/2 stream that closed before any response came on it. */
export interface UnansweredStream {
  /** It was opened (its HEADERS submitted); false when the connection never came up (refused). */
  opened: boolean;
  /** The code it was reset with, if any. */
  rstCode: number | undefined;
  /** Bytes of the request body were passed on to it: they cannot be sent again. */
  bodyPassed: boolean;
  /** The request was sent elsewhere once already. */
  retried: boolean;
}

/**
 * Whether a request whose upstream stream closed before any response may be sent to another
 * replica (once), as Knative's activator and queue-proxy do: only when the upstream cannot have
 * processed it — its stream never opened (the connection was refused: a replica that is gone, as
 * ECONNREFUSED over HTTP/1.1) or was refused (REFUSED_STREAM, RFC 9113 §8.7) — and the request is
 * still whole. A stream that opened and was then cut may have been processed: never retried.
 */
export function mayRetryElsewhere(stream: UnansweredStream): boolean {
  if (stream.retried || stream.bodyPassed) return false;
  return !stream.opened || stream.rstCode === errorCode.refusedStream;
}
