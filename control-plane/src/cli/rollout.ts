import { apiVersion } from '@skiff/shared';
import type { Context } from './commands.ts';
import { render } from './output.ts';

/** What `GET .../services/{name}/rollout` answers (see `../rollout/rollouts.ts`). */
export interface RolloutView {
  inProgress: boolean;
  mode?: 'knative' | 'gated';
  policy: { kind: string; durationSeconds?: number; steps?: number[]; stepDurationMs?: number; minRequests?: number };
  shares: { revision: string; percent: number }[];
  revision?: string;
  stable?: string;
  step?: number;
  paused?: boolean;
  nextStepAt?: string;
  figures?: Record<string, { responses: number; serverErrors: number; p99Ms?: number }>;
  lastOutcome?: { result: string; revision: string; message: string; at: string };
  failedRevision?: string;
  condition?: { status: string; reason?: string; message?: string };
  events?: { at: string; actor: string; action: string; detail: Record<string, unknown> }[];
}

const rolloutPath = (ns: string, name: string) =>
  `/apis/${apiVersion}/namespaces/${ns}/services/${encodeURIComponent(name)}/rollout`;

export function fetchRollout(ctx: Context, name: string): Promise<RolloutView> {
  return ctx.client.request<RolloutView>('GET', rolloutPath(ctx.namespace, name));
}

/** Lines describing a rollout: policy, shares, step, figures, last verdict and recent events. */
export function rolloutDescription(v: RolloutView): string[] {
  const p = v.policy;
  const policy =
    p.kind === 'gated'
      ? `gated, steps ${p.steps?.join(',')}% of ${(p.stepDurationMs ?? 0) / 1000}s, min ${p.minRequests} requests`
      : p.kind === 'knative'
        ? `gradual over ${p.durationSeconds}s (Knative)`
        : 'at once';
  const lines = [`Rollout:    ${policy}`];
  if (v.inProgress) {
    const step = v.step !== undefined ? `step ${v.step}, ` : '';
    lines.push(
      `  ${step}revision ${v.revision}${v.stable ? ` against ${v.stable}` : ''}${v.paused ? ' (paused)' : ''}`,
    );
    for (const s of v.shares) lines.push(`  ${String(s.percent).padStart(3)}%  ${s.revision}`);
    for (const [rev, f] of Object.entries(v.figures ?? {})) {
      const rate = f.responses > 0 ? ((100 * f.serverErrors) / f.responses).toFixed(1) : '0.0';
      lines.push(
        `  ${rev}: ${f.responses} requests, ${rate}% 5xx, p99 ${f.p99Ms === undefined ? '-' : `${Math.round(f.p99Ms)}ms`}`,
      );
    }
    if (v.nextStepAt) lines.push(`  next step at ${v.nextStepAt}`);
  }
  if (v.lastOutcome) lines.push(`  last: ${v.lastOutcome.result} (${v.lastOutcome.at}): ${v.lastOutcome.message}`);
  if (v.failedRevision)
    lines.push(`  not rolled out again by itself: ${v.failedRevision} (skiff rollout resume|promote)`);
  const events = v.events ?? [];
  if (events.length > 0) {
    lines.push('  Events:');
    for (const e of events.slice(0, 8)) {
      const d = e.detail;
      const what =
        typeof d.message === 'string' ? d.message : d.shares ? JSON.stringify(d.shares) : String(d.revision ?? '');
      lines.push(`    ${e.at}  ${e.action}  ${what}`);
    }
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
  const view = await ctx.client.request<RolloutView>('POST', rolloutPath(ctx.namespace, name), { action: verb });
  if (ctx.output !== 'table') return ctx.print(render(view, ctx.output));
  ctx.print(`Rollout of service '${name}': ${verb} requested.`);
}
