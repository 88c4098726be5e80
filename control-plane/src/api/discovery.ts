import { apiVersion, domainMappingApiVersion, servingGroup } from '@skiff/shared';
import type { Hono } from 'hono';
import { categories, resources } from './resources/catalog.ts';
import { domainMappingInfo } from './resources/domain-mappings.ts';

/** The Kubernetes version Skiff's API behaves as (kubectl compares it with its own for skew). */
export const kubernetesVersion = { major: '1', minor: '36', gitVersion: 'v1.36.0-skiff' };

const aggregatedType = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** Whether the client asks for aggregated discovery (kubectl ≥ 1.30 does, and falls back). */
function wantsAggregated(req: Request): boolean {
  return (
    /g=apidiscovery\.k8s\.io/.test(req.headers.get('accept') ?? '') && /v=v2\b/.test(req.headers.get('accept') ?? '')
  );
}

const json = (value: unknown, type = 'application/json') =>
  new Response(JSON.stringify(value), { headers: { 'content-type': type } });

export function resourceList() {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersion,
    resources: resources.flatMap((r) => [
      {
        name: r.name,
        singularName: r.singular,
        namespaced: true,
        kind: r.kind,
        verbs: r.verbs,
        shortNames: r.shortNames,
        categories,
      },
      { name: `${r.name}/status`, singularName: '', namespaced: true, kind: r.kind, verbs: r.statusVerbs },
    ]),
  };
}

/** v1beta1 holds DomainMapping only, as in Knative. */
export function betaResourceList() {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: domainMappingApiVersion,
    resources: [
      {
        name: domainMappingInfo.name,
        singularName: domainMappingInfo.singular,
        namespaced: true,
        kind: domainMappingInfo.kind,
        verbs: domainMappingInfo.verbs,
        shortNames: domainMappingInfo.shortNames,
        categories,
      },
    ],
  };
}

function group() {
  const version = { groupVersion: apiVersion, version: 'v1' };
  const beta = { groupVersion: domainMappingApiVersion, version: 'v1beta1' };
  return { name: servingGroup, versions: [version, beta], preferredVersion: version };
}

function aggregated(withGroup: boolean) {
  const responseKind = (kind: string) => ({ group: servingGroup, version: 'v1', kind });
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: withGroup
      ? [
          {
            metadata: { name: servingGroup },
            versions: [
              {
                version: 'v1',
                freshness: 'Current',
                resources: resources.map((r) => ({
                  resource: r.name,
                  responseKind: responseKind(r.kind),
                  scope: 'Namespaced',
                  singularResource: r.singular,
                  verbs: r.verbs,
                  shortNames: r.shortNames,
                  categories,
                  subresources: [{ subresource: 'status', responseKind: responseKind(r.kind), verbs: r.statusVerbs }],
                })),
              },
              {
                version: 'v1beta1',
                freshness: 'Current',
                resources: [
                  {
                    resource: domainMappingInfo.name,
                    responseKind: { group: servingGroup, version: 'v1beta1', kind: domainMappingInfo.kind },
                    scope: 'Namespaced',
                    singularResource: domainMappingInfo.singular,
                    verbs: domainMappingInfo.verbs,
                    shortNames: domainMappingInfo.shortNames,
                    categories,
                  },
                ],
              },
            ],
          },
        ]
      : [],
  };
}

/** `/version`, `/api`, `/apis`, the group and its version: what kubectl asks before anything else. */
export function discoveryRoutes(app: Hono): void {
  app.get('/version', () =>
    json({
      ...kubernetesVersion,
      gitCommit: '',
      gitTreeState: 'clean',
      buildDate: '1970-01-01T00:00:00Z',
      goVersion: `node${process.versions.node}`,
      compiler: 'node',
      platform: `${process.platform}/${process.arch}`,
    }),
  );
  // No core group: Skiff serves only serving.knative.dev.
  app.get('/api', (c) =>
    wantsAggregated(c.req.raw)
      ? json(aggregated(false), aggregatedType)
      : json({ kind: 'APIVersions', versions: [], serverAddressByClientCIDRs: [] }),
  );
  app.get('/apis', (c) =>
    wantsAggregated(c.req.raw)
      ? json(aggregated(true), aggregatedType)
      : json({ kind: 'APIGroupList', apiVersion: 'v1', groups: [group()] }),
  );
  app.get(`/apis/${servingGroup}`, () => json({ kind: 'APIGroup', apiVersion: 'v1', ...group() }));
  app.get(`/apis/${apiVersion}`, () => json(resourceList()));
  app.get(`/apis/${domainMappingApiVersion}`, () => json(betaResourceList()));
}
