import { type RevisionDefaults, revisionDefaults } from './config/revision-defaults.ts';
import type { Container, ContainerPort, Probe } from './schemas/container.ts';
import type { Configuration, Route, Service } from './schemas/resources.ts';
import type { RevisionSpec, RevisionTemplateSpec } from './schemas/revision.ts';
import type { TrafficTarget } from './schemas/traffic.ts';

/**
 * Knative's defaulting (the mutating webhook, `*_defaults.go`), as pure functions returning a new
 * object. The API stores resources after defaulting, so what a user reads back shows every default.
 */

export const defaultNamespace = 'default';

export function defaultService(service: Service, defaults: RevisionDefaults = revisionDefaults): Service {
  const out = structuredClone(service);
  out.metadata.namespace ||= defaultNamespace;
  out.spec.template = defaultTemplate(out.spec.template, defaults);
  out.spec.traffic = defaultTraffic(out.spec.traffic, true);
  return out;
}

export function defaultConfiguration(
  configuration: Configuration,
  defaults: RevisionDefaults = revisionDefaults,
): Configuration {
  const out = structuredClone(configuration);
  out.metadata.namespace ||= defaultNamespace;
  out.spec.template = defaultTemplate(out.spec.template, defaults);
  return out;
}

export function defaultRoute(route: Route): Route {
  const out = structuredClone(route);
  out.metadata.namespace ||= defaultNamespace;
  out.spec.traffic = defaultTraffic(out.spec.traffic, false);
  return out;
}

/**
 * Empty traffic in a Service means all of it to the latest ready revision; each target gets
 * `latestRevision` (true unless it names a revision) and `percent` (0) when unset.
 */
export function defaultTraffic(traffic: TrafficTarget[] | undefined, inService: boolean): TrafficTarget[] {
  if (!traffic || traffic.length === 0) return inService ? [{ latestRevision: true, percent: 100 }] : [];
  return traffic.map((t) => ({
    ...t,
    latestRevision: t.latestRevision ?? !t.revisionName,
    percent: t.percent ?? 0,
  }));
}

export function defaultTemplate(
  template: RevisionTemplateSpec,
  defaults: RevisionDefaults = revisionDefaults,
): RevisionTemplateSpec {
  return { ...template, spec: defaultRevisionSpec(template.spec, defaults) };
}

/** `RevisionSpec.SetDefaults`: timeouts, concurrency, container names and readiness probes. */
export function defaultRevisionSpec(spec: RevisionSpec, defaults: RevisionDefaults = revisionDefaults): RevisionSpec {
  const out: RevisionSpec = { ...spec };
  if (!out.timeoutSeconds) out.timeoutSeconds = defaults.timeoutSeconds;
  if (
    out.responseStartTimeoutSeconds === undefined &&
    defaults.responseStartTimeoutSeconds > 0 &&
    defaults.responseStartTimeoutSeconds < out.timeoutSeconds
  ) {
    out.responseStartTimeoutSeconds = defaults.responseStartTimeoutSeconds;
  }
  if (out.idleTimeoutSeconds === undefined && defaults.idleTimeoutSeconds > 0) {
    out.idleTimeoutSeconds = defaults.idleTimeoutSeconds;
  }
  out.containerConcurrency ??= defaults.containerConcurrency;
  const single = spec.containers.length === 1;
  out.containers = spec.containers.map((c, i) => {
    const container: Container = { ...c };
    if (!container.name) container.name = single ? defaults.containerName : `${defaults.containerName}-${i}`;
    if (single || (c.ports?.length ?? 0) > 0) container.readinessProbe = defaultReadinessProbe(c.readinessProbe);
    return container;
  });
  return out;
}

/** A container with no readiness probe gets a TCP probe on its port, retried aggressively. */
export function defaultReadinessProbe(probe: Probe | undefined): Probe {
  const out: Probe = { ...probe };
  if (!out.tcpSocket && !out.httpGet && !out.exec && !out.grpc) out.tcpSocket = {};
  if (!out.successThreshold) out.successThreshold = 1;
  if (out.periodSeconds) {
    if (!out.failureThreshold) out.failureThreshold = 3;
    if (!out.timeoutSeconds) out.timeoutSeconds = 1;
  }
  return out;
}

/** The container that receives requests: the only one, or the one that declares a port. */
export function servingContainer(spec: RevisionSpec): Container | undefined {
  if (spec.containers.length === 1) return spec.containers[0];
  return spec.containers.find((c) => (c.ports?.length ?? 0) > 0);
}

/** The port the app listens on (`$PORT`): its declared port, else 8080. */
export function servingPort(spec: RevisionSpec, defaults: RevisionDefaults = revisionDefaults): ContainerPort {
  const declared = servingContainer(spec)?.ports?.[0];
  return declared ?? { containerPort: defaults.containerPort };
}
