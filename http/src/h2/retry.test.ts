import { describe, expect, it } from 'vitest';
import { errorCode } from './conn.ts';
import { mayRetryElsewhere } from './retry.ts';

// When a request whose upstream HTTP/2 stream closed before any response may go to another
// replica: only when the upstream cannot have seen it and the request is still whole.
describe('mayRetryElsewhere', () => {
  const unopened = { opened: false, rstCode: errorCode.internalError, bodyPassed: false, retried: false };
  it.each([
    ['never opened (connection refused: a replica gone)', unopened, true],
    ['refused by the upstream (REFUSED_STREAM)', { ...unopened, opened: true, rstCode: errorCode.refusedStream }, true],
    ['opened and then cut (may have been processed)', { ...unopened, opened: true }, false],
    ['opened and cancelled', { ...unopened, opened: true, rstCode: errorCode.cancel }, false],
    ['opened, closed without a code', { ...unopened, opened: true, rstCode: undefined }, false],
    ['never opened, but body bytes were already passed on', { ...unopened, bodyPassed: true }, false],
    [
      'refused, but body bytes were already passed on',
      { ...unopened, opened: true, rstCode: errorCode.refusedStream, bodyPassed: true },
      false,
    ],
    ['never opened, already retried once', { ...unopened, retried: true }, false],
  ])('%s', (_name, stream, expected) => {
    expect(mayRetryElsewhere(stream)).toBe(expected);
  });
});
