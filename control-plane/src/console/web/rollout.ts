import { describeFigures, describePolicy, describeRolloutEvent, type ServiceRolloutView } from '../../rollout/view.ts';
import { html } from './html.ts';

export type RolloutAction = 'pause' | 'resume' | 'promote' | 'abort';

/** The actions that apply now, as the API would accept them (it answers 409 to the others). */
export function rolloutActions(v: ServiceRolloutView): RolloutAction[] {
  if (v.inProgress) return [v.paused ? 'resume' : 'pause', 'promote', 'abort'];
  return v.failedRevision ? ['resume', 'promote'] : [];
}

const what: Record<RolloutAction, (v: ServiceRolloutView) => string> = {
  pause: (v) => `Pause the rollout of ${v.revision} at step ${v.step ?? ''} (breaches still roll back)`,
  resume: (v) =>
    v.inProgress ? `Resume the rollout of ${v.revision}` : `Roll out ${v.failedRevision} again from the first step`,
  promote: (v) => `Promote ${v.revision ?? v.failedRevision}: it gets 100% of the traffic now`,
  abort: (v) => `Abort: all the traffic back to ${v.stable ?? v.shares[0]?.revision}`,
};

/**
 * A Service's rollout on its page: the policy, the step with each revision's share and figures,
 * the last verdict, the steps and verdicts from the audit log, and the manual controls.
 */
export function RolloutPanel(props: {
  view: ServiceRolloutView | undefined;
  act: (action: RolloutAction, text: string) => void;
}) {
  const v = props.view;
  if (v === undefined) return null;
  const status = v.condition?.status ?? 'None';
  return html`<section class="rollout" data-in-progress=${String(v.inProgress)} data-status=${status}>
    <h2>Rollout</h2>
    <p class="policy">${describePolicy(v.policy)}</p>
    ${
      v.inProgress
        ? html`<p class="step">${v.step !== undefined ? `Step ${v.step}: ` : ''}${v.revision}${v.stable ? ` against ${v.stable}` : ''}${v.paused ? ' (paused)' : ''}</p>
          <table class="shares">
            <thead><tr><th>Revision</th><th>Share %</th><th>This step</th></tr></thead>
            <tbody>${v.shares.map((s) => {
              const figures = v.figures?.[s.revision];
              return html`<tr data-revision=${s.revision}><td>${s.revision}</td><td class="percent">${s.percent}</td>
                <td>${figures ? describeFigures(figures) : ''}</td></tr>`;
            })}</tbody>
          </table>`
        : null
    }
    ${
      v.lastOutcome
        ? html`<p class="outcome" data-result=${v.lastOutcome.result}><b>${v.lastOutcome.result}</b> (${v.lastOutcome.at}): ${v.lastOutcome.message}</p>`
        : null
    }
    <p>${rolloutActions(v).map(
      (a) =>
        html`<button class=${`rollout-${a}`} onClick=${() => props.act(a, what[a](v))}>${a[0]?.toUpperCase()}${a.slice(1)}</button> `,
    )}</p>
    ${
      v.events.length > 0
        ? html`<table class="rollout-events">
            <thead><tr><th>When</th><th>Event</th><th></th></tr></thead>
            <tbody>${v.events.map(
              (e) =>
                html`<tr data-action=${e.action}><td>${e.at}</td><td>${e.action}</td><td>${describeRolloutEvent(e)}</td></tr>`,
            )}</tbody>
          </table>`
        : null
    }
  </section>`;
}
