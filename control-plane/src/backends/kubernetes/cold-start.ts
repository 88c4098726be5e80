import type { V1Pod } from '@kubernetes/client-node';
import type { ColdStartTimes } from '@skiff/shared';

// A revision's start from zero on Kubernetes, timed from its pods' conditions: the same record the
// local backend times from its processes (`ColdStartTimes`), so routers put the same phases in
// held requests' `Server-Timing`. Kubernetes does not see the app's port; the phases are what the
// pod's conditions say (the mapping, as `ColdStartTimesSchema` documents it):
//   spawn     → `PodScheduled`    (the scheduler bound the pod to a node)
//   listening → `Initialized`     (init containers done; the containers start)
//   ready     → `ContainersReady` (every container passed its readiness probe: the queue-proxy's)
// Condition times come from the API server with one-second resolution (RFC 3339, no fraction),
// so each mark is kept no earlier than the decision and the mark before it.

/** A condition or container time as the typed list (a `Date`) or a watch event (a string) gives it; Unix ms. */
function ms(v: Date | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v instanceof Date ? v.getTime() : Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/** When the pod's condition `type` last became True (Unix ms), if it is True. */
export function conditionTrueAt(pod: V1Pod, type: string): number | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === type);
  return c?.status === 'True' ? ms(c.lastTransitionTime as Date | string | undefined) : undefined;
}

/**
 * The start from zero decided at `decidedAt` (Unix ms), timed from the revision's pods: the pod
 * that answers it is the first of those created since the decision to become `ContainersReady`,
 * else (none ready yet) the first created, which shows how far the start got. Pods created before
 * the decision (second resolution) belong to an earlier start. Pure.
 */
export function podColdStart(decidedAt: number, pods: readonly V1Pod[]): ColdStartTimes {
  const decidedSecond = Math.floor(decidedAt / 1000) * 1000;
  const candidates = pods
    .map((pod) => ({ pod, created: ms(pod.metadata?.creationTimestamp as Date | string | undefined) }))
    .filter((p): p is { pod: V1Pod; created: number } => p.created !== undefined && p.created >= decidedSecond);
  if (candidates.length === 0) return { decidedAt };
  const byName = (a: { pod: V1Pod }, b: { pod: V1Pod }) =>
    (a.pod.metadata?.name ?? '') < (b.pod.metadata?.name ?? '') ? -1 : 1;
  const ready = candidates
    .map((p) => ({ ...p, readyAt: conditionTrueAt(p.pod, 'ContainersReady') }))
    .filter((p): p is typeof p & { readyAt: number } => p.readyAt !== undefined)
    .sort((a, b) => a.readyAt - b.readyAt || byName(a, b));
  const chosen = ready[0]?.pod ?? candidates.sort((a, b) => a.created - b.created || byName(a, b))[0]?.pod;
  const times: ColdStartTimes = { decidedAt };
  let last = decidedAt;
  const marks: [keyof ColdStartTimes, string][] = [
    ['spawnedAt', 'PodScheduled'],
    ['listeningAt', 'Initialized'],
    ['readyAt', 'ContainersReady'],
  ];
  for (const [field, type] of marks) {
    const at = chosen ? conditionTrueAt(chosen, type) : undefined;
    if (at === undefined) break;
    last = Math.max(at, last);
    times[field] = last;
  }
  return times;
}
