import { apiVersion } from '@skiff/shared';
import { describeFigures, describePolicy, describeRolloutEvent, type ServiceRolloutView } from '../rollout/view.ts';
import type { Context } from './commands.ts';
import { render } from './output.ts';

const rolloutPath = (ns: string, name: string) =>
  `/apis/${apiVersion}/namespaces/${ns}/services/${encodeURIComponent(name)}/rollout`;

export function fetchRollout(ctx: Context, name: string): Promise<ServiceRolloutView> {
  return ctx.client.request<ServiceRolloutView>('GET', rolloutPath(ctx.namespace, name));
}

/** Lines describing a rollout: policy, shares, step, figures, last verdict and recent events. */
export function rolloutDescription(v: ServiceRolloutView): string[] {
  const lines = [`Rollout:    ${describePolicy(v.policy)}`];
  if (v.inProgress) {
    const step = v.step !== undefined ? `step ${v.step}, ` : '';
    lines.push(
      `  ${step}revision ${v.revision}${v.stable ? ` against ${v.stable}` : ''}${v.paused ? ' (paused)' : ''}`,
    );
    for (const s of v.shares) lines.push(`  ${String(s.percent).padStart(3)}%  ${s.revision}`);
    for (const [rev, f] of Object.entries(v.figures ?? {})) lines.push(`  ${rev}: ${describeFigures(f)}`);
    if (v.nextStepAt) lines.push(`  next step at ${v.nextStepAt}`);
  }
  if (v.lastOutcome) lines.push(`  last: ${v.lastOutcome.result} (${v.lastOutcome.at}): ${v.lastOutcome.message}`);
  if (v.failedRevision)
    lines.push(`  not rolled out again by itself: ${v.failedRevision} (skiff rollout resume|promote)`);
  const events = v.events ?? [];
  if (events.length > 0) {
    lines.push('  Events:');
    for (const e of events.slice(0, 8)) lines.push(`    ${e.at}  ${e.action}  ${describeRolloutEvent(e)}`);
  }
  return lines;
}

/** `skiff rollout status|pause|resume|promote|abort SERVICE`. */
export async function rolloutCommand(ctx: Context, verb: string, name: string): Promise<void> {
  if (verb === 'status') {
    const view = await fetchRollout(ctx, name);
    if (ctx.output !== 'table') return ctx.print(render(view, ctx.output));
    return ctx.print(rolloutDescription(view).join('\n'));
  }
  const view = await ctx.client.request<ServiceRolloutView>('POST', rolloutPath(ctx.namespace, name), { action: verb });
  if (ctx.output !== 'table') return ctx.print(render(view, ctx.output));
  ctx.print(`Rollout of service '${name}': ${verb} requested.`);
}
