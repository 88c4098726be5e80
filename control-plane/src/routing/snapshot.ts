import {
  type ColdStartTimes,
  clusterLocalDomain,
  effectiveHttpProtocol,
  type HttpProtocol,
  httpProtocolDefault,
  isClusterLocal,
  type RevisionSpec,
  type RoutingSnapshot,
  type SnapshotEndpoint,
  type SnapshotRevision,
  type SnapshotRoute,
  serviceHost,
  tagHost,
} from '@skiff/shared';
import type { ResolvedTarget } from '../reconciler/service-state.ts';

export interface SnapshotService {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  traffic: ResolvedTarget[];
}

/** A domain a DomainMapping holds (its claim won), reaching a Service's route, or one tag of it. */
export interface SnapshotDomain {
  domain: string;
  namespace: string;
  service: string;
  tag?: string;
}

export interface SnapshotRevisionInput {
  namespace: string;
  name: string;
  service: string;
  spec: RevisionSpec;
  endpoints: SnapshotEndpoint[];
  /** Its latest start from zero (`RevisionObservation.coldStart`). */
  coldStart?: ColdStartTimes | undefined;
}

/**
 * The routing snapshot's content (everything but its version): each service's hosts and
 * resolved traffic, and the settings and ready endpoints of every revision that traffic reaches.
 * Pure: the same input gives the same document, so a change is a real change.
 */
export function buildSnapshot(
  services: SnapshotService[],
  revisions: SnapshotRevisionInput[],
  domain: string,
  domains: SnapshotDomain[] = [],
  /** The platform's `http-protocol` (Knative's `config-network`); a Service's annotation overrides it. */
  httpProtocol: HttpProtocol = httpProtocolDefault,
): Omit<RoutingSnapshot, 'version' | 'generatedAt'> {
  const routes: SnapshotRoute[] = [];
  // `namespace/service` (its split) or `namespace/service/tag` → mapped domains.
  const mapped = new Map<string, string[]>();
  for (const d of domains) {
    const key = `${d.namespace}/${d.service}${d.tag === undefined ? '' : `/${d.tag}`}`;
    mapped.set(key, [...(mapped.get(key) ?? []), d.domain.toLowerCase()]);
  }
  const wanted = new Set<string>();
  for (const s of services) {
    if (s.traffic.length === 0) continue;
    const local = isClusterLocal(s.labels);
    const hosts = [serviceHost(s.name, s.namespace, clusterLocalDomain)];
    if (!local) hosts.unshift(serviceHost(s.name, s.namespace, domain));
    // A mapped domain reaches the Service's split, as its own host does, or the tag it names.
    if (!local) hosts.push(...(mapped.get(`${s.namespace}/${s.name}`) ?? []).sort());
    const http = effectiveHttpProtocol(s.annotations, httpProtocol);
    routes.push({
      ...(http !== 'enabled' ? { httpProtocol: http } : {}),
      namespace: s.namespace,
      name: s.name,
      visibility: local ? 'cluster-local' : 'public',
      hosts: hosts.map((h) => h.toLowerCase()),
      traffic: s.traffic.map((t) => {
        wanted.add(`${s.namespace}/${t.revisionName}`);
        const target: SnapshotRoute['traffic'][number] = { revisionName: t.revisionName, percent: t.percent };
        if (t.tag !== undefined) {
          target.tag = t.tag;
          const tagHosts = [tagHost(t.tag, s.name, s.namespace, clusterLocalDomain)];
          if (!local) {
            tagHosts.unshift(tagHost(t.tag, s.name, s.namespace, domain));
            tagHosts.push(...(mapped.get(`${s.namespace}/${s.name}/${t.tag}`) ?? []).sort());
          }
          target.hosts = tagHosts.map((h) => h.toLowerCase());
        }
        return target;
      }),
    });
  }
  const out: SnapshotRevision[] = [];
  for (const r of revisions) {
    if (!wanted.has(`${r.namespace}/${r.name}`)) continue;
    const rev: SnapshotRevision = {
      namespace: r.namespace,
      name: r.name,
      service: r.service,
      containerConcurrency: r.spec.containerConcurrency ?? 0,
      timeoutSeconds: r.spec.timeoutSeconds ?? 300,
      endpoints: [...r.endpoints].sort((a, b) => a.pod.localeCompare(b.pod)),
    };
    if (r.spec.responseStartTimeoutSeconds !== undefined)
      rev.responseStartTimeoutSeconds = r.spec.responseStartTimeoutSeconds;
    if (r.spec.idleTimeoutSeconds !== undefined) rev.idleTimeoutSeconds = r.spec.idleTimeoutSeconds;
    // Knative's rule: a port named h2c means the app speaks HTTP/2 without TLS.
    if (r.spec.containers[0]?.ports?.[0]?.name === 'h2c') rev.protocol = 'h2c';
    if (r.coldStart !== undefined) rev.coldStart = r.coldStart;
    out.push(rev);
  }
  return { routes, revisions: out };
}
