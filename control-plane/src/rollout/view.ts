import type { RolloutPolicy } from '@skiff/shared';

/** One revision's answers through every router since the step began. */
export interface FiguresView {
  responses: number;
  serverErrors: number;
  p99Ms?: number;
}

/** A rollout step or verdict, from the audit log. */
export interface RolloutEventView {
  at: string;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

/**
 * What `GET .../services/{name}/rollout` answers (and `POST` after a command): read by
 * `skiff rollout status`, `skiff service describe` and the console's service page.
 */
export interface ServiceRolloutView {
  kind: 'ServiceRollout';
  namespace: string;
  name: string;
  policy: RolloutPolicy;
  inProgress: boolean;
  /** The `latestRevision` traffic's shares, oldest first. */
  shares: { revision: string; percent: number }[];
  mode?: 'knative' | 'gated';
  /** The revision rolling out. */
  revision?: string;
  paused?: boolean;
  /** Gated: the revision judged against, the step (1-based), when it began, the figures since. */
  stable?: string;
  step?: number;
  stepStartedAt?: string;
  figures?: Record<string, FiguresView>;
  /** Knative: when the next step is due. */
  nextStepAt?: string;
  pendingCommands?: string[];
  lastOutcome?: { result: string; revision: string; message: string; at: string };
  /** Rolled back or aborted: not rolled out again by itself. */
  failedRevision?: string;
  condition?: { type: string; status: string; reason?: string; message?: string };
  /** Newest first. */
  events: RolloutEventView[];
}

/** The policy in a line: `gated, steps 5,25,50,100% of 30s, min 100 requests`. */
export function describePolicy(p: RolloutPolicy): string {
  if (p.kind === 'gated') {
    return `gated, steps ${p.steps.join(',')}% of ${p.stepDurationMs / 1000}s, min ${p.minRequests} requests`;
  }
  return p.kind === 'knative' ? `gradual over ${p.durationSeconds}s (Knative)` : 'at once';
}

/** What an event says beyond its action: the verdict's message, else the shares, else the revision. */
export function describeRolloutEvent(e: RolloutEventView): string {
  const d = e.detail;
  if (typeof d.message === 'string') return d.message;
  if (Array.isArray(d.shares)) {
    return (d.shares as { revision: string; percent: number }[]).map((s) => `${s.revision} ${s.percent}%`).join(', ');
  }
  return String(d.revision ?? '');
}

/** A revision's figures in a step: `58 requests, 19.0% 5xx, p99 12ms`. */
export function describeFigures(f: FiguresView): string {
  const rate = f.responses > 0 ? ((100 * f.serverErrors) / f.responses).toFixed(1) : '0.0';
  return `${f.responses} requests, ${rate}% 5xx, p99 ${f.p99Ms === undefined ? '-' : `${Math.round(f.p99Ms)}ms`}`;
}
