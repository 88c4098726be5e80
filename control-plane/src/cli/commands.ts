import { readFileSync } from 'node:fs';
import {
  apiVersion,
  parseDocuments,
  type Revision,
  type Service,
  type TrafficTarget,
  writableKind,
} from '@skiff/shared';
import { ApiError, type Client } from './client.ts';
import { age, conditionsSummary, type Format, readyCondition, render, table } from './output.ts';
import { fetchRollout, rolloutDescription } from './rollout.ts';

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {}

export interface Context {
  client: Client;
  namespace: string;
  output: Format;
  print(text: string): void;
}

const servicesPath = (ns: string, name = '') =>
  `/apis/${apiVersion}/namespaces/${ns}/services${name ? `/${encodeURIComponent(name)}` : ''}`;
const revisionsPath = (ns: string, name = '') =>
  `/apis/${apiVersion}/namespaces/${ns}/revisions${name ? `/${encodeURIComponent(name)}` : ''}`;

/** Flags shared by `service create` and `service update`. */
export interface ServiceFlags {
  image?: string;
  cmd?: string;
  env: string[];
  concurrencyLimit?: string;
  scaleMin?: string;
  scaleMax?: string;
  scaleTarget?: string;
  timeout?: string;
  revisionName?: string;
  traffic: string[];
  tag: string[];
}

/** Splits a command line into words, honouring single and double quotes and backslashes. */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line.charAt(++i);
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line.charAt(++i);
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`--cmd: unterminated ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

function int(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: expected a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * Builds `spec.traffic` from kn-style flags: `--traffic REV=PCT` (REV a revision, a tag, or
 * `@latest`) and `--tag REV=TAG`. Returns undefined when neither flag was given.
 */
export function buildTraffic(traffic: string[], tags: string[]): TrafficTarget[] | undefined {
  if (traffic.length === 0 && tags.length === 0) return undefined;
  const targets = new Map<string, TrafficTarget>();
  const target = (rev: string): TrafficTarget => {
    let t = targets.get(rev);
    if (!t) {
      t = rev === '@latest' ? { latestRevision: true, percent: 0 } : { revisionName: rev, percent: 0 };
      targets.set(rev, t);
    }
    return t;
  };
  const tagOf = new Map<string, string>();
  for (const item of tags.flatMap((t) => t.split(','))) {
    const [rev, tag] = item.split('=');
    if (!rev || !tag) throw new UsageError(`--tag: expected REVISION=TAG, got ${JSON.stringify(item)}`);
    target(rev).tag = tag;
    tagOf.set(tag, rev);
  }
  let given = 0;
  for (const item of traffic.flatMap((t) => t.split(','))) {
    const [ref, pct] = item.split('=');
    const percent = int('--traffic', pct);
    if (!ref || percent === undefined)
      throw new UsageError(`--traffic: expected REVISION=PERCENT, got ${JSON.stringify(item)}`);
    target(tagOf.get(ref) ?? ref).percent = percent;
    given++;
  }
  if (given === 0) target('@latest').percent = 100;
  return [...targets.values()];
}

/** Applies the flags to a Service (a new one, or the current one for an update). */
export function applyFlags(svc: Service, f: ServiceFlags): Service {
  const template = svc.spec.template;
  template.metadata ??= {};
  if (template.spec.containers.length === 0) template.spec.containers.push({});
  const container = template.spec.containers[0] as NonNullable<(typeof template.spec.containers)[0]>;
  if (f.image !== undefined) container.image = f.image;
  if (f.cmd !== undefined) {
    const words = splitCommand(f.cmd);
    if (words.length === 0) throw new UsageError('--cmd: empty command');
    container.command = words;
    delete container.args;
  }
  for (const e of f.env) {
    if (e.endsWith('-') && !e.includes('=')) {
      container.env = (container.env ?? []).filter((x) => x.name !== e.slice(0, -1));
      continue;
    }
    const eq = e.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env: expected NAME=VALUE (or NAME- to remove), got ${JSON.stringify(e)}`);
    const name = e.slice(0, eq);
    const value = e.slice(eq + 1);
    container.env ??= [];
    const env = container.env;
    const existing = env.find((x) => x.name === name);
    if (existing) {
      existing.value = value;
      delete existing.valueFrom;
    } else env.push({ name, value });
  }
  const cc = int('--concurrency-limit', f.concurrencyLimit);
  if (cc !== undefined) template.spec.containerConcurrency = cc;
  const timeout = int('--timeout', f.timeout);
  if (timeout !== undefined) template.spec.timeoutSeconds = timeout;
  const annotations = { ...template.metadata.annotations };
  const setAnnotation = (flag: string, key: string, value: string | undefined) => {
    if (int(flag, value) !== undefined) annotations[`autoscaling.knative.dev/${key}`] = value as string;
  };
  setAnnotation('--scale-min', 'min-scale', f.scaleMin);
  setAnnotation('--scale-max', 'max-scale', f.scaleMax);
  setAnnotation('--scale-target', 'target', f.scaleTarget);
  if (Object.keys(annotations).length > 0) template.metadata.annotations = annotations;
  if (f.revisionName !== undefined) template.metadata.name = f.revisionName;
  else if (template.metadata.name !== undefined) delete template.metadata.name;
  const traffic = buildTraffic(f.traffic, f.tag);
  if (traffic) svc.spec.traffic = traffic;
  return svc;
}

export async function serviceCreate(ctx: Context, name: string, f: ServiceFlags): Promise<Service> {
  if (f.image === undefined && f.cmd === undefined)
    throw new UsageError('service create: give --image IMAGE or --cmd "COMMAND"');
  const svc = applyFlags(
    {
      apiVersion,
      kind: 'Service',
      metadata: { name, namespace: ctx.namespace },
      spec: { template: { spec: { containers: [{}] } } },
    },
    f,
  );
  const created = await ctx.client.request<Service>('POST', servicesPath(ctx.namespace), svc);
  if (ctx.output === 'table') ctx.print(`Service '${name}' created in namespace '${ctx.namespace}'.`);
  return created;
}

export async function serviceUpdate(ctx: Context, name: string, f: ServiceFlags): Promise<Service> {
  for (let attempt = 0; ; attempt++) {
    const current = await ctx.client.request<Service>('GET', servicesPath(ctx.namespace, name));
    delete (current as { status?: unknown }).status;
    const next = applyFlags(structuredClone(current), f);
    try {
      const updated = await ctx.client.request<Service>('PUT', servicesPath(ctx.namespace, name), next);
      if (ctx.output === 'table') ctx.print(`Service '${name}' updated in namespace '${ctx.namespace}'.`);
      return updated;
    } catch (e) {
      // Someone else wrote in between: read again and reapply the same flags.
      if (e instanceof ApiError && e.status.code === 409 && attempt < 3) continue;
      throw e;
    }
  }
}

/** Waits until a service's Ready condition is True (or fails once it is False). */
export async function waitReady(ctx: Context, name: string, timeoutMs: number): Promise<Service> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const svc = await ctx.client.request<Service>('GET', servicesPath(ctx.namespace, name));
    const ready = readyCondition(svc);
    const current = svc.status?.observedGeneration === svc.metadata.generation;
    if (current && ready?.status === 'True') return svc;
    if (current && ready?.status === 'False') {
      throw new ApiError({
        apiVersion: 'v1',
        kind: 'Status',
        metadata: {},
        status: 'Failure',
        reason: ready.reason ?? 'NotReady',
        code: 1,
        message: `service '${name}' is not ready: ${ready.reason ?? ''}: ${ready.message ?? ''}`,
      });
    }
    if (Date.now() > deadline) {
      throw new ApiError({
        apiVersion: 'v1',
        kind: 'Status',
        metadata: {},
        status: 'Failure',
        reason: 'Timeout',
        code: 1,
        message: `service '${name}' not ready after ${timeoutMs / 1000}s: ${ready?.reason ?? 'no status yet'}`,
      });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function serviceList(ctx: Context): Promise<void> {
  const list = await ctx.client.request<{ items: Service[] }>('GET', servicesPath(ctx.namespace));
  if (ctx.output !== 'table') return ctx.print(render(list, ctx.output));
  if (list.items.length === 0) return ctx.print(`No services found in namespace '${ctx.namespace}'.`);
  ctx.print(
    table(
      ['NAME', 'URL', 'LATEST', 'AGE', 'CONDITIONS', 'READY', 'REASON'],
      list.items.map((s) => [
        s.metadata.name ?? '',
        s.status?.url ?? '',
        s.status?.latestReadyRevisionName ?? '',
        age(s.metadata.creationTimestamp ?? undefined),
        conditionsSummary(s),
        readyCondition(s)?.status ?? 'Unknown',
        readyCondition(s)?.reason ?? '',
      ]),
    ),
  );
}

export async function serviceDescribe(ctx: Context, name: string): Promise<void> {
  const svc = await ctx.client.request<Service>('GET', servicesPath(ctx.namespace, name));
  if (ctx.output !== 'table') return ctx.print(render(svc, ctx.output));
  const lines = [
    `Name:       ${svc.metadata.name}`,
    `Namespace:  ${svc.metadata.namespace}`,
    `URL:        ${svc.status?.url ?? ''}`,
    `Age:        ${age(svc.metadata.creationTimestamp ?? undefined)}`,
    '',
    'Revisions:',
  ];
  for (const t of svc.status?.traffic ?? []) {
    const tag = t.tag ? ` #${t.tag}` : '';
    const latest = t.latestRevision ? ' (@latest)' : '';
    lines.push(
      `  ${String(t.percent ?? 0).padStart(3)}%  ${t.revisionName}${latest}${tag}${t.url ? `  ${t.url}` : ''}`,
    );
  }
  lines.push(...(await rolloutLines(ctx, name)));
  lines.push('', 'Conditions:');
  for (const c of svc.status?.conditions ?? []) {
    lines.push(
      `  ${c.status === 'True' ? 'OK' : c.status === 'False' ? '!!' : '??'} ${c.type}${c.reason ? `  ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}`,
    );
  }
  ctx.print(lines.join('\n'));
}

/** The rollout part of `service describe`: what runs now and the last steps and verdicts. */
async function rolloutLines(ctx: Context, name: string): Promise<string[]> {
  const view = await fetchRollout(ctx, name).catch(() => undefined);
  return view === undefined ? [] : ['', ...rolloutDescription(view)];
}

export async function serviceDelete(ctx: Context, name: string): Promise<void> {
  await ctx.client.request('DELETE', servicesPath(ctx.namespace, name));
  ctx.print(`Service '${name}' deleted in namespace '${ctx.namespace}'.`);
}

export async function revisionList(ctx: Context, service: string | undefined): Promise<void> {
  const list = await ctx.client.request<{ items: Revision[] }>(
    'GET',
    `${revisionsPath(ctx.namespace)}${service ? `?labelSelector=${encodeURIComponent(`serving.knative.dev/service=${service}`)}` : ''}`,
  );
  if (ctx.output !== 'table') return ctx.print(render(list, ctx.output));
  if (list.items.length === 0) return ctx.print(`No revisions found in namespace '${ctx.namespace}'.`);
  const services = new Map<string, Service>();
  for (const r of list.items) {
    const s = r.metadata.labels?.['serving.knative.dev/service'];
    if (s && !services.has(s))
      services.set(s, await ctx.client.request<Service>('GET', servicesPath(ctx.namespace, s)));
  }
  const rows = [...list.items].reverse().map((r) => {
    const s = services.get(r.metadata.labels?.['serving.knative.dev/service'] ?? '');
    const targets = (s?.status?.traffic ?? []).filter((t) => t.revisionName === r.metadata.name);
    const percent = targets.reduce((n, t) => n + (t.percent ?? 0), 0);
    return [
      r.metadata.name ?? '',
      r.metadata.labels?.['serving.knative.dev/service'] ?? '',
      targets.length > 0 ? `${percent}%` : '',
      targets.flatMap((t) => (t.tag ? [t.tag] : [])).join(','),
      r.metadata.labels?.['serving.knative.dev/configurationGeneration'] ?? '',
      age(r.metadata.creationTimestamp ?? undefined),
      conditionsSummary(r),
      readyCondition(r)?.status ?? 'Unknown',
      readyCondition(r)?.reason ?? '',
    ];
  });
  ctx.print(table(['NAME', 'SERVICE', 'TRAFFIC', 'TAGS', 'GENERATION', 'AGE', 'CONDITIONS', 'READY', 'REASON'], rows));
}

export async function revisionDescribe(ctx: Context, name: string): Promise<void> {
  const rev = await ctx.client.request<Revision>('GET', revisionsPath(ctx.namespace, name));
  if (ctx.output !== 'table') return ctx.print(render(rev, ctx.output));
  const c = rev.spec.containers[0];
  const lines = [
    `Name:         ${rev.metadata.name}`,
    `Namespace:    ${rev.metadata.namespace}`,
    `Service:      ${rev.metadata.labels?.['serving.knative.dev/service'] ?? ''}`,
    `Age:          ${age(rev.metadata.creationTimestamp ?? undefined)}`,
    `${c?.image ? `Image:        ${c.image}` : `Command:      ${(c?.command ?? []).join(' ')}`}`,
    `Concurrency:  ${rev.spec.containerConcurrency ?? 0}`,
    `Timeout:      ${rev.spec.timeoutSeconds ?? 300}s`,
    `Replicas:     ${rev.status?.actualReplicas ?? 0}/${rev.status?.desiredReplicas ?? 0}`,
    '',
    'Conditions:',
    ...(rev.status?.conditions ?? []).map(
      (x) =>
        `  ${x.status === 'True' ? 'OK' : x.status === 'False' ? '!!' : '??'} ${x.type}${x.reason ? `  ${x.reason}` : ''}${x.message ? `: ${x.message}` : ''}`,
    ),
  ];
  const scaling = await ctx.client.request<{ recent: ScalingLine[]; changes: ScalingLine[] }>(
    'GET',
    `${revisionsPath(ctx.namespace, name)}/scaling`,
  );
  const last = scaling.recent.at(-1);
  if (last) {
    lines.push(
      '',
      `Autoscaler:   ${last.metric} target ${last.target}/replica, observed ${fmt(last.stable)} (stable) ${fmt(last.panic)} (panic)${last.inPanic ? ', PANIC' : ''}`,
    );
  }
  if (scaling.changes.length > 0) {
    lines.push('', 'Scale decisions (newest last):');
    for (const d of scaling.changes.slice(-10)) {
      lines.push(
        `  ${d.at}  ${d.from ?? '?'} -> ${d.desired}  ready ${d.readyPods}, observed ${fmt(d.stable)}/${fmt(d.panic)}${d.inPanic ? ' (panic)' : ''}: ${d.reason}`,
      );
    }
  }
  ctx.print(lines.join('\n'));
}

interface ScalingLine {
  at: string;
  metric: string;
  target: number;
  stable?: number;
  panic?: number;
  inPanic: boolean;
  readyPods: number;
  from?: number;
  desired: number;
  reason: string;
}

function fmt(n: number | undefined): string {
  return n === undefined ? '-' : String(Math.round(n * 100) / 100);
}

export async function revisionDelete(ctx: Context, name: string): Promise<void> {
  await ctx.client.request('DELETE', revisionsPath(ctx.namespace, name));
  ctx.print(`Revision '${name}' deleted in namespace '${ctx.namespace}'.`);
}

export async function rollback(ctx: Context, service: string, to: string | undefined): Promise<void> {
  const svc = await ctx.client.request<Service>(
    'POST',
    `${servicesPath(ctx.namespace, service)}/rollback`,
    to === undefined ? {} : { revisionName: to },
  );
  if (ctx.output !== 'table') return ctx.print(render(svc, ctx.output));
  const target = svc.spec.traffic?.find((t) => (t.percent ?? 0) === 100)?.revisionName;
  ctx.print(`Service '${service}' rolled back: all traffic to revision '${target}'.`);
}

/** `skiff logs`: a revision's recent output (the service's newest ready one unless named). */
export async function logs(
  ctx: Context,
  service: string,
  revision: string | undefined,
  follow: boolean,
): Promise<void> {
  let rev = revision;
  if (rev === undefined) {
    const svc = await ctx.client.request<Service>('GET', servicesPath(ctx.namespace, service));
    rev = svc.status?.latestReadyRevisionName ?? svc.status?.latestCreatedRevisionName;
    if (!rev) throw new UsageError(`logs: service '${service}' has no revision yet`);
  }
  await ctx.client.stream(`${revisionsPath(ctx.namespace, rev)}/log${follow ? '?follow=true' : ''}`, (chunk) =>
    process.stdout.write(chunk),
  );
}

/** `apply -f`: creates each Service in the manifest, or updates it when it exists. */
export async function apply(ctx: Context, file: string): Promise<void> {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  const parsed = parseDocuments(text, /^\s*[[{]/.test(text) ? 'json' : 'yaml');
  if (!parsed.ok) throw new ApiError(parsed.status);
  for (const doc of parsed.value) {
    const kind = writableKind(doc);
    if (kind !== 'Service') {
      throw new UsageError(
        `apply: only serving.knative.dev/v1 Services can be applied, got ${JSON.stringify((doc as { kind?: unknown })?.kind)}`,
      );
    }
    const svc = doc as Service;
    const name = svc.metadata?.name;
    const ns = svc.metadata?.namespace ?? ctx.namespace;
    if (!name) throw new UsageError('apply: every Service needs metadata.name');
    let current: Service | undefined;
    try {
      current = await ctx.client.request<Service>('GET', servicesPath(ns, name));
    } catch (e) {
      if (!(e instanceof ApiError && e.status.code === 404)) throw e;
    }
    if (!current) {
      await ctx.client.request('POST', servicesPath(ns), svc);
      ctx.print(`service.serving.knative.dev/${name} created`);
      continue;
    }
    const before = current.metadata.resourceVersion;
    const updated = await ctx.client.request<Service>('PUT', servicesPath(ns, name), {
      ...svc,
      metadata: { ...svc.metadata, resourceVersion: before },
    });
    ctx.print(
      `service.serving.knative.dev/${name} ${updated.metadata.resourceVersion === before ? 'unchanged' : 'configured'}`,
    );
  }
}
