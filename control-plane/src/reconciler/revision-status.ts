import type { Condition } from '@skiff/shared';
import type { RevisionObservation } from '../backends/backend.ts';
import { and, type Decided, isTrue, stamp } from './conditions.ts';

export interface RevisionStatus {
  observedGeneration: number;
  conditions: Condition[];
  actualReplicas: number;
  desiredReplicas: number;
  /** Skiff's addition: the revision has been ready at least once, so it stays Ready at zero. */
  everReady?: boolean;
}

/**
 * A revision's status from what the backend reports (`revision_lifecycle.go`): `Ready` =
 * AND(`ResourcesAvailable`, `ContainerHealthy`). A revision that has been ready once stays Ready
 * when scaled to zero; `Active` says whether replicas are up and is not part of Ready.
 */
export function revisionStatus(
  obs: RevisionObservation,
  previous: Partial<RevisionStatus> | undefined,
  now: string,
  startsAtZero = false,
): RevisionStatus {
  const everReady = Boolean(previous?.everReady) || obs.ready.length > 0 || (startsAtZero && !obs.failure);
  let resources: Decided;
  let container: Decided;
  if (obs.failure) {
    const failed: Decided = { type: '', status: 'False', reason: obs.failure.reason, message: obs.failure.message };
    const progress = obs.failure.reason === 'ProgressDeadlineExceeded';
    resources = progress
      ? { ...failed, type: 'ResourcesAvailable' }
      : {
          type: 'ResourcesAvailable',
          status: everReady ? 'True' : 'Unknown',
          reason: everReady ? undefined : 'Deploying',
        };
    container = progress
      ? { type: 'ContainerHealthy', status: 'Unknown', reason: 'Deploying' }
      : { ...failed, type: 'ContainerHealthy' };
  } else if (everReady) {
    resources = { type: 'ResourcesAvailable', status: 'True' };
    container = { type: 'ContainerHealthy', status: 'True' };
  } else {
    resources = { type: 'ResourcesAvailable', status: 'Unknown', reason: 'Deploying' };
    container = { type: 'ContainerHealthy', status: 'Unknown', reason: 'Deploying' };
  }
  const active: Decided =
    obs.ready.length > 0
      ? { type: 'Active', status: 'True' }
      : obs.desired === 0
        ? { type: 'Active', status: 'False', reason: 'NoTraffic', message: 'The target is not receiving traffic.' }
        : { type: 'Active', status: 'Unknown', reason: 'Activating', message: 'Replicas are starting.' };
  const ready = and('Ready', [resources, container]);
  return {
    observedGeneration: 1,
    conditions: stamp([ready, resources, container, active].map(clean), previous?.conditions, now),
    actualReplicas: obs.ready.length,
    desiredReplicas: obs.desired,
    ...(everReady ? { everReady: true } : {}),
  };
}

function clean(d: Decided): Decided {
  const out: Decided = { type: d.type, status: d.status };
  if (d.reason) out.reason = d.reason;
  if (d.message) out.message = d.message;
  return out;
}

export function revisionReady(status: Partial<RevisionStatus> | undefined): boolean {
  return isTrue(status?.conditions?.find((c) => c.type === 'Ready'));
}

export function revisionFailed(status: Partial<RevisionStatus> | undefined): Condition | undefined {
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'False' ? ready : undefined;
}
