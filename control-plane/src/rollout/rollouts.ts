import { type Labels, PrometheusWriter, type RolloutPolicy, type RouterStats, rolloutPolicy } from '@skiff/shared';
import type { Decided } from '../reconciler/conditions.ts';
import type { RevisionInfo, RolloutView } from '../reconciler/service-state.ts';
import type { ServiceRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import {
  candidateOf,
  decideRollout,
  inProgress,
  type RolloutCommand,
  type RolloutEvent,
  type RolloutState,
} from './decider.ts';
import { RolloutFigures } from './figures.ts';
import type { ServiceRolloutView } from './view.ts';

export interface RolloutsOptions {
  store: Store;
  /** `skiff up --rollout-duration`: Knative's platform default (`config-network`), in seconds. */
  defaultDurationSeconds?: number;
  /** Reconcile a Service again (when its rollout's next step or judgement is due). */
  enqueue: (namespace: string, name: string) => void;
  now?: () => number;
}

/**
 * The thin shell around `decideRollout`: the reconciler asks it for each Service's traffic
 * shares; it stores each step and verdict (durably, with the audit log), schedules the next
 * decision, keeps the routers' figures for the gates, and counts events for `/metrics`.
 */
export class Rollouts {
  readonly figures = new RolloutFigures();
  readonly #o: RolloutsOptions;
  readonly #now: () => number;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #events = new Map<string, number>();
  readonly #active = new Map<string, RolloutState>();

  constructor(o: RolloutsOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  routerStats(stats: RouterStats): void {
    this.figures.add(stats, this.#now());
  }

  policy(svc: ServiceRow): RolloutPolicy {
    return rolloutPolicy(svc.annotations, this.#o.defaultDurationSeconds ?? 0);
  }

  /** Decides the Service's rollout now (synchronously: no write can come between read and write). */
  decide(svc: ServiceRow, revisions: RevisionInfo[], latestReady: string | undefined): RolloutView {
    const { store } = this.#o;
    const key = `${svc.namespace}/${svc.name}`;
    const now = this.#now();
    const healthy = new Set(revisions.filter((r) => r.ready && !r.failed).map((r) => r.name));
    const previous = store.getRollout(svc.namespace, svc.name);
    const decision = decideRollout({
      now,
      policy: this.policy(svc),
      percent: latestPercent(svc),
      latestReady,
      healthy: (r) => healthy.has(r),
      troubleAt: (r) => revisions.find((i) => i.name === r)?.troubleAt,
      previous,
      figures: (revision, since) => this.figures.since(svc.namespace, revision, since),
    });
    const { state, events } = decision;
    if (JSON.stringify(state) !== JSON.stringify(previous)) {
      store.setRollout(svc.namespace, svc.name, state, events, 'reconciler');
    }
    for (const e of events) {
      const k = `${key}\u0000${e.action}`;
      this.#events.set(k, (this.#events.get(k) ?? 0) + 1);
    }
    this.#track(key, state);
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    if (decision.nextCheckAt !== undefined) {
      const timer = setTimeout(
        () => {
          this.#timers.delete(key);
          this.#o.enqueue(svc.namespace, svc.name);
        },
        Math.max(0, decision.nextCheckAt - now),
      );
      timer.unref();
      this.#timers.set(key, timer);
    }
    return { shares: state.shares, inProgress: inProgress(state), condition: condition(state) };
  }

  /**
   * Queues a user's command; the reason it cannot apply when it cannot (for a 409), else
   * undefined. `undefined` state means the Service is unknown.
   */
  command(namespace: string, name: string, command: RolloutCommand): string | undefined {
    const state = this.#o.store.getRollout(namespace, name);
    const running = inProgress(state);
    const pending = state?.commands ?? [];
    const toggle = [...pending].reverse().find((c) => c === 'pause' || c === 'resume');
    const paused = toggle ? toggle === 'pause' : state?.paused === true;
    switch (command) {
      case 'pause':
        if (!running) return 'no rollout is in progress';
        if (paused) return 'the rollout is already paused';
        break;
      case 'resume':
        if (!(running && paused) && !state?.failedRevision) return 'no rollout is paused or rolled back';
        break;
      case 'promote':
        if (!running && !state?.failedRevision) return 'no rollout is in progress or rolled back';
        break;
      case 'abort':
        if (!running) return 'no rollout is in progress';
        break;
    }
    this.#o.store.addRolloutCommand(namespace, name, command);
    this.#o.enqueue(namespace, name);
    return undefined;
  }

  /** The Service's rollout for `GET .../services/{name}/rollout` and `skiff rollout status`. */
  view(namespace: string, name: string): ServiceRolloutView {
    const svc = this.#o.store.getService(namespace, name);
    const state = this.#o.store.getRollout(namespace, name) ?? { percent: 0, shares: [] };
    const policy: RolloutPolicy = svc ? this.policy(svc) : { kind: 'immediate' };
    const running = inProgress(state);
    const out: ServiceRolloutView = {
      kind: 'ServiceRollout',
      namespace,
      name,
      policy,
      inProgress: running,
      shares: state.shares,
      events: [],
    };
    if (running) {
      const candidate = candidateOf(state) as string;
      if (state.mode) out.mode = state.mode;
      out.revision = candidate;
      out.paused = state.paused === true;
      if (state.mode === 'gated') {
        const since = state.stepStartedAt ?? 0;
        if (state.stable) out.stable = state.stable;
        out.step = (state.step ?? 0) + 1;
        out.stepStartedAt = new Date(since).toISOString();
        out.figures = {
          [candidate]: this.figures.since(namespace, candidate, since),
          ...(state.stable ? { [state.stable]: this.figures.since(namespace, state.stable, since) } : {}),
        };
      } else if (state.nextStepTime !== undefined) out.nextStepAt = new Date(state.nextStepTime).toISOString();
    }
    if (state.commands?.length) out.pendingCommands = state.commands;
    if (state.outcome) out.lastOutcome = { ...state.outcome, at: new Date(state.outcome.at).toISOString() };
    if (state.failedRevision) out.failedRevision = state.failedRevision;
    const c = condition(state);
    if (c) out.condition = c;
    // Steps and verdicts, newest first, from the audit log.
    out.events = this.#o.store
      .auditLog(namespace, name, 200)
      .filter((e) => e.action.startsWith('rollout-'))
      .slice(0, 20)
      .map((e) => ({ at: e.at, actor: e.actor, action: e.action, detail: e.detail }));
    return out;
  }

  stop(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  #track(key: string, state: RolloutState): void {
    if (inProgress(state)) this.#active.set(key, state);
    else this.#active.delete(key);
    const tracked = new Set<string>();
    for (const [k, s] of this.#active) {
      if (s.mode !== 'gated') continue;
      const ns = k.slice(0, k.indexOf('/'));
      for (const share of s.shares) tracked.add(`${ns}/${share.revision}`);
      if (s.stable) tracked.add(`${ns}/${s.stable}`);
    }
    this.figures.tracked = tracked;
  }

  /** Prometheus lines: each running rollout's shares and step, and the events counted since start. */
  metrics(): string[] {
    const inProgress: [Labels, number][] = [];
    const shares: [Labels, number][] = [];
    const steps: [Labels, number][] = [];
    for (const [k, s] of this.#active) {
      const [namespace = '', service = ''] = k.split('/');
      inProgress.push([{ namespace, service }, 1]);
      for (const share of s.shares) shares.push([{ namespace, service, revision: share.revision }, share.percent]);
      if (s.mode === 'gated') steps.push([{ namespace, service, revision: candidateOf(s) ?? '' }, (s.step ?? 0) + 1]);
    }
    const events: [Labels, number][] = [];
    for (const [k, n] of this.#events) {
      const [svc = '', action = ''] = k.split('\u0000');
      const [namespace = '', service = ''] = svc.split('/');
      events.push([{ namespace, service, action }, n]);
    }
    return new PrometheusWriter()
      .gauge('skiff_rollout_in_progress', '1 while a rollout of the service runs.', inProgress)
      .gauge(
        'skiff_rollout_traffic_percent',
        'Percent of the route each revision of a running rollout receives.',
        shares,
      )
      .gauge('skiff_rollout_step', 'The step (1-based) a gated rollout is at.', steps)
      .counter('skiff_rollout_events_total', 'Rollout steps and verdicts since the control plane started.', events)
      .lines();
  }
}

/** The percent of the untagged `latestRevision` targets: the traffic a rollout moves. */
export function latestPercent(svc: ServiceRow): number {
  return (svc.spec.traffic ?? [])
    .filter((t) => !t.revisionName && t.tag === undefined)
    .reduce((n, t) => n + (t.percent ?? 0), 0);
}

/** `RolloutSucceeded`: Unknown while it runs (with the step), True when done, False when rolled back or aborted. */
export function condition(state: RolloutState): Decided | undefined {
  const type = 'RolloutSucceeded';
  if (inProgress(state)) {
    const candidate = candidateOf(state) as string;
    const share = state.shares.at(-1)?.percent ?? 0;
    const paused = state.paused ? ' (paused)' : '';
    const message =
      state.mode === 'gated'
        ? `Step ${(state.step ?? 0) + 1}: revision "${candidate}" receives ${share}% of the traffic, judged against "${state.stable}"${paused}.`
        : `Revision "${candidate}" receives ${share}% of the traffic${paused}.`;
    return { type, status: 'Unknown', reason: 'InProgress', message };
  }
  const o = state.outcome;
  if (o === undefined) return undefined;
  if (o.result === 'Succeeded') return { type, status: 'True', reason: 'Succeeded', message: o.message };
  return { type, status: 'False', reason: o.result, message: o.message };
}

export type { RolloutCommand, RolloutEvent };
