import { domainMappingApiVersion } from '@skiff/shared';
import type { Context } from './commands.ts';
import { age, render, table } from './output.ts';

interface DomainMapping {
  metadata: { name: string; namespace: string; creationTimestamp?: string };
  spec: { ref: { name: string }; tls?: { secretName: string } };
  status?: { url?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const path = (namespace: string, name?: string) =>
  `/apis/${domainMappingApiVersion}/namespaces/${encodeURIComponent(namespace)}/domainmappings${name ? `/${encodeURIComponent(name)}` : ''}`;

/** `skiff domain create DOMAIN --service NAME [--tls-secret SECRET]`: a DomainMapping, as `kn domain create`. */
export async function domainCreate(ctx: Context, domain: string, service: string, tlsSecret?: string): Promise<void> {
  const body = {
    apiVersion: domainMappingApiVersion,
    kind: 'DomainMapping',
    metadata: { name: domain, namespace: ctx.namespace },
    spec: {
      ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: service, namespace: ctx.namespace },
      ...(tlsSecret ? { tls: { secretName: tlsSecret } } : {}),
    },
  };
  const created = await ctx.client.request<DomainMapping>('POST', path(ctx.namespace), body);
  if (ctx.output !== 'table') return ctx.print(render(created, ctx.output));
  ctx.print(`Domain mapping '${domain}' created in namespace '${ctx.namespace}' (to service '${service}').`);
}

export async function domainList(ctx: Context): Promise<void> {
  const list = await ctx.client.request<{ items: DomainMapping[] }>('GET', path(ctx.namespace));
  if (ctx.output !== 'table') return ctx.print(render(list, ctx.output));
  if (list.items.length === 0) return ctx.print(`No domain mappings found in namespace '${ctx.namespace}'.`);
  ctx.print(
    table(
      ['NAME', 'URL', 'SERVICE', 'AGE', 'READY', 'REASON'],
      list.items.map((d) => {
        const ready = d.status?.conditions?.find((c) => c.type === 'Ready');
        return [
          d.metadata.name,
          d.status?.url ?? '',
          d.spec.ref.name,
          age(d.metadata.creationTimestamp),
          ready?.status ?? 'Unknown',
          ready?.reason ?? '',
        ];
      }),
    ),
  );
}

export async function domainDescribe(ctx: Context, domain: string): Promise<void> {
  const d = await ctx.client.request<DomainMapping>('GET', path(ctx.namespace, domain));
  if (ctx.output !== 'table') return ctx.print(render(d, ctx.output));
  const lines = [
    `Name:       ${d.metadata.name}`,
    `Namespace:  ${d.metadata.namespace}`,
    `URL:        ${d.status?.url ?? ''}`,
    `Service:    ${d.spec.ref.name}`,
    ...(d.spec.tls ? [`TLS Secret: ${d.spec.tls.secretName}`] : []),
    'Conditions:',
    ...(d.status?.conditions ?? []).map(
      (c) => `  ${c.type.padEnd(23)} ${c.status.padEnd(7)} ${c.reason ?? ''}${c.message ? `  ${c.message}` : ''}`,
    ),
  ];
  ctx.print(lines.join('\n'));
}

export async function domainDelete(ctx: Context, domain: string): Promise<void> {
  await ctx.client.request('DELETE', path(ctx.namespace, domain));
  ctx.print(`Domain mapping '${domain}' deleted in namespace '${ctx.namespace}'.`);
}
