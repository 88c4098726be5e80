import type { Backoff } from '@skiff/shared';

export { type Backoff, backoffDelay } from '@skiff/shared';

export const snapshotBackoff: Backoff = { initialMs: 200, maxMs: 5_000 };
