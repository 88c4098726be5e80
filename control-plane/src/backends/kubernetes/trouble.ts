import type { V1Pod } from '@kubernetes/client-node';

/**
 * When a pod last had trouble (Unix ms), as `RevisionObservation.troubleAt` means it: one of its
 * containers restarted (its restart count went up; the kubelet keeps the crash's end in
 * `lastState.terminated.finishedAt`), or the pod, once Ready, stopped being Ready. `previous` is the
 * same pod as last seen (undefined when first seen, e.g. after the control plane restarted: then
 * a restart still counts from its recorded time, a lost readiness cannot be told from a start).
 * A pod being deleted loses readiness on purpose: no trouble. `now` stands in when the server gives no time. Undefined: no trouble seen.
 */
export function podTroubleAt(pod: V1Pod, previous: V1Pod | undefined, now: number): number | undefined {
  let at: number | undefined;
  const later = (t: number | undefined) => {
    if (t !== undefined && (at === undefined || t > at)) at = t;
  };
  const before = new Map((previous?.status?.containerStatuses ?? []).map((c) => [c.name, c]));
  for (const c of [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]) {
    const restarts = c.restartCount ?? 0;
    const was = before.get(c.name)?.restartCount ?? 0;
    if (restarts === 0) continue;
    const finished = time(c.lastState?.terminated?.finishedAt);
    // Seen to go up now, or recorded before we looked.
    if (restarts > was) later(finished ?? now);
    else later(finished);
  }
  // A pod being deleted (scaled down, replaced) stops being Ready on purpose.
  const ready = readyCondition(pod);
  const terminating = pod.metadata?.deletionTimestamp !== undefined;
  const wasReady = previous !== undefined && readyCondition(previous)?.status === 'True';
  if (wasReady && !terminating && ready?.status !== 'True') later(time(ready?.lastTransitionTime) ?? now);
  return at;
}

function readyCondition(pod: V1Pod) {
  return pod.status?.conditions?.find((c) => c.type === 'Ready');
}

/** A time as the client gives it (a Date, or an RFC 3339 string from a raw watch event). */
function time(t: Date | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = (t instanceof Date ? t : new Date(t)).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}
