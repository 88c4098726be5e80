import type { Random } from '../routing/random.ts';

/** One replica of a revision as the router sees it: where it is and how many requests it has now. */
export interface EndpointState {
  readonly pod: string;
  readonly url: string;
  /** Requests this router has sent there and not yet seen answered. */
  inFlight: number;
}

/** Round-robin position, kept per revision between picks. */
export interface Cursor {
  next: number;
}

/**
 * Picks the endpoint for one request by in-flight count, as Knative's activator does
 * (`pkg/activator/net/lb_policy.go`), or `undefined` when none has spare capacity:
 * - containerConcurrency 0 (no limit): best of two random choices, the one with fewer in flight;
 * - 1–3: the first endpoint (in sorted order) with a free slot, which packs small-concurrency
 *   replicas tightly and keeps requests off replicas that are about to fill up;
 * - more: round robin over the endpoints with a free slot.
 * `skip` leaves one endpoint out (the one that just refused a connection).
 */
export function pickEndpoint(
  endpoints: readonly EndpointState[],
  containerConcurrency: number,
  random: Random,
  cursor: Cursor,
  skip?: EndpointState,
): EndpointState | undefined {
  const list = skip === undefined ? endpoints : endpoints.filter((e) => e !== skip);
  const n = list.length;
  if (n === 0) return undefined;
  if (containerConcurrency === 0) {
    if (n === 1) return list[0];
    const i = Math.floor(random() * n);
    let j = Math.floor(random() * (n - 1));
    if (j >= i) j++;
    const a = list[i] as EndpointState;
    const b = list[j] as EndpointState;
    // Both were drawn at random, so keeping `a` on a tie is a random tie-break.
    return b.inFlight < a.inFlight ? b : a;
  }
  if (containerConcurrency <= 3) {
    for (const e of list) if (e.inFlight < containerConcurrency) return e;
    return undefined;
  }
  for (let k = 0; k < n; k++) {
    const idx = (cursor.next + k) % n;
    const e = list[idx] as EndpointState;
    if (e.inFlight < containerConcurrency) {
      cursor.next = (idx + 1) % n;
      return e;
    }
  }
  return undefined;
}
