import type { AutoscalerConfig } from '../config/autoscaling.ts';
import { parseDuration } from '../config/duration.ts';
import {
  allowedPortNames,
  progressDeadlineAnnotation,
  type RevisionDefaults,
  reservedContainerNames,
  reservedEnvVars,
  reservedMountPaths,
  reservedPorts,
  revisionDefaults,
} from '../config/revision-defaults.ts';
import {
  child,
  duplicate,
  type FieldError,
  forbidden,
  index,
  invalid,
  key,
  notSupported,
  outOfRange,
  required,
} from '../errors/field-error.ts';
import type { Container, EnvVar, Probe } from '../schemas/container.ts';
import type { ObjectMeta } from '../schemas/meta.ts';
import type { RevisionSpec, RevisionTemplateSpec } from '../schemas/revision.ts';
import { validateAutoscalingAnnotations } from './autoscaling.ts';
import { validateAnnotationKeys, validateLabels } from './metadata.ts';
import { dns1035LabelProblems, dns1035PrefixProblems, dns1123LabelProblems, envVarNameProblems } from './names.ts';
import { parseQuantity } from './quantity.ts';

export interface TemplateContext {
  /** The Service or Configuration that owns the template. */
  parent: ObjectMeta;
  defaults?: RevisionDefaults;
  autoscaler?: AutoscalerConfig;
}

/** Validates `spec.template` (`RevisionTemplateSpec.Validate`): metadata, BYO name, annotations, spec. */
export function validateRevisionTemplate(
  template: RevisionTemplateSpec,
  path: string,
  ctx: TemplateContext,
): FieldError[] {
  const meta = child(path, 'metadata');
  const errs: FieldError[] = [];
  errs.push(...validateLabels(template.metadata?.labels, child(meta, 'labels')));
  errs.push(...validateAnnotationKeys(template.metadata?.annotations, child(meta, 'annotations')));
  errs.push(
    ...validateAutoscalingAnnotations(template.metadata?.annotations, child(meta, 'annotations'), ctx.autoscaler),
  );
  errs.push(...validateProgressDeadline(template.metadata?.annotations, child(meta, 'annotations')));
  errs.push(...validateRevisionName(template.metadata, meta, ctx.parent));
  errs.push(...validateRevisionSpec(template.spec, child(path, 'spec'), ctx.defaults));
  return errs;
}

/** `serving.knative.dev/progress-deadline`: a positive duration (`ValidateProgressDeadlineAnnotation`). */
function validateProgressDeadline(annotations: Record<string, string> | undefined, path: string): FieldError[] {
  const raw = annotations?.[progressDeadlineAnnotation];
  if (raw === undefined) return [];
  const ms = parseDuration(raw);
  if (ms === undefined) return [invalid(key(path, progressDeadlineAnnotation), raw, 'must be a duration, e.g. "10m"')];
  if (ms <= 0) return [invalid(key(path, progressDeadlineAnnotation), raw, 'must be a positive duration')];
  return [];
}

function validateRevisionName(meta: ObjectMeta | undefined, path: string, parent: ObjectMeta): FieldError[] {
  const errs: FieldError[] = [];
  if (meta?.generateName) {
    for (const p of dns1035PrefixProblems(meta.generateName)) {
      errs.push(invalid(child(path, 'generateName'), meta.generateName, p));
    }
  }
  const name = meta?.name;
  if (!name) return errs;
  const problems = dns1035LabelProblems(name);
  for (const p of problems) errs.push(invalid(child(path, 'name'), name, p));
  if (problems.length > 0) return errs;
  if (!parent.name && parent.generateName) {
    errs.push(forbidden(child(path, 'name'), 'a revision name cannot be chosen when the service uses generateName'));
  } else if (parent.name && !name.startsWith(`${parent.name}-`)) {
    errs.push(invalid(child(path, 'name'), name, `must start with "${parent.name}-" (the service name and a dash)`));
  }
  return errs;
}

/** Validates a RevisionSpec: timeouts, concurrency and the containers (`RevisionSpec.Validate`). */
export function validateRevisionSpec(
  spec: RevisionSpec,
  path: string,
  defaults: RevisionDefaults = revisionDefaults,
): FieldError[] {
  const errs: FieldError[] = [];
  const maxTimeout = defaults.maxTimeoutSeconds;
  const timeout = spec.timeoutSeconds;
  if (timeout !== undefined && (timeout < 0 || timeout > maxTimeout)) {
    errs.push(outOfRange(child(path, 'timeoutSeconds'), timeout, 0, maxTimeout));
  }
  const effectiveTimeout = timeout || defaults.timeoutSeconds;
  const responseStart = spec.responseStartTimeoutSeconds;
  if (responseStart !== undefined && (responseStart < 0 || responseStart > effectiveTimeout)) {
    errs.push(
      invalid(
        child(path, 'responseStartTimeoutSeconds'),
        responseStart,
        `must be between 0 and timeoutSeconds (${effectiveTimeout}) inclusive`,
      ),
    );
  }
  const idle = spec.idleTimeoutSeconds;
  if (idle !== undefined && (idle < 0 || idle > maxTimeout)) {
    errs.push(outOfRange(child(path, 'idleTimeoutSeconds'), idle, 0, maxTimeout));
  }
  const cc = spec.containerConcurrency;
  if (cc !== undefined) {
    const min = defaults.allowContainerConcurrencyZero ? 0 : 1;
    if (cc < min || cc > defaults.containerConcurrencyMaxLimit) {
      errs.push(outOfRange(child(path, 'containerConcurrency'), cc, min, defaults.containerConcurrencyMaxLimit));
    }
  }
  errs.push(...validateContainers(spec.containers, child(path, 'containers')));
  return errs;
}

function validateContainers(containers: Container[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (containers.length === 0) {
    errs.push(required(path, 'at least one container'));
    return errs;
  }
  const names = new Map<string, number>();
  const withPorts: number[] = [];
  containers.forEach((c, i) => {
    const at = index(path, i);
    if (c.name !== undefined && c.name !== '') {
      for (const p of dns1123LabelProblems(c.name)) errs.push(invalid(child(at, 'name'), c.name, p));
      if (reservedContainerNames.includes(c.name)) {
        errs.push(invalid(child(at, 'name'), c.name, 'is reserved for the sidecar Skiff adds'));
      }
      const first = names.get(c.name);
      if (first !== undefined) {
        errs.push(duplicate(child(at, 'name'), c.name, `also the name of ${index(path, first)}`));
      } else names.set(c.name, i);
    }
    if (!c.image && !c.command?.length) {
      errs.push(
        required(
          child(at, 'image'),
          'an image (Kubernetes) or a command (local backend) is needed to run the container',
        ),
      );
    }
    if ((c.ports?.length ?? 0) > 0) withPorts.push(i);
    errs.push(...validateContainer(c, at));
  });
  const totalPorts = containers.reduce((n, c) => n + (c.ports?.length ?? 0), 0);
  if (totalPorts > 1) {
    errs.push(
      invalid(
        path,
        `${totalPorts} ports`,
        'exactly one port may be declared across all containers: the one that serves requests',
      ),
    );
  } else if (containers.length > 1 && totalPorts === 0) {
    errs.push(required(path, 'with several containers, exactly one must declare the port that serves requests'));
  }
  // With one serving port known, the readiness probe may only target that port.
  const servingIndex = containers.length === 1 ? 0 : withPorts.length === 1 ? withPorts[0] : undefined;
  if (servingIndex !== undefined) {
    const serving = containers[servingIndex];
    const port = serving?.ports?.[0]?.containerPort ?? revisionDefaults.containerPort;
    const probe = serving?.readinessProbe;
    if (probe) {
      const probePath = child(index(path, servingIndex), 'readinessProbe');
      for (const handler of ['httpGet', 'tcpSocket'] as const) {
        const p = probe[handler]?.port;
        if (p !== undefined && p !== 0 && p !== '' && p !== port && p !== serving?.ports?.[0]?.name) {
          errs.push(
            invalid(child(child(probePath, handler), 'port'), p, `may only probe the container port (${port})`),
          );
        }
      }
    }
  }
  return errs;
}

function validateContainer(c: Container, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (c.ports ?? []).forEach((port, i) => {
    const at = index(child(path, 'ports'), i);
    if (port.containerPort < 1 || port.containerPort > 65535) {
      errs.push(outOfRange(child(at, 'containerPort'), port.containerPort, 1, 65535));
    } else if (reservedPorts.includes(port.containerPort)) {
      errs.push(
        invalid(
          child(at, 'containerPort'),
          port.containerPort,
          `is reserved for Skiff (reserved: ${reservedPorts.join(', ')})`,
        ),
      );
    }
    if (port.name !== undefined && !allowedPortNames.includes(port.name)) {
      errs.push(notSupported(child(at, 'name'), port.name, allowedPortNames));
    }
    if (port.protocol !== undefined && port.protocol !== 'TCP') {
      errs.push(notSupported(child(at, 'protocol'), port.protocol, ['TCP']));
    }
    if (port.hostPort !== undefined) errs.push(forbidden(child(at, 'hostPort'), 'a revision cannot claim a host port'));
    if (port.hostIP !== undefined) errs.push(forbidden(child(at, 'hostIP'), 'a revision cannot bind a host IP'));
  });
  errs.push(...validateEnv(c.env, child(path, 'env')));
  if (c.readinessProbe) errs.push(...validateReadinessProbe(c.readinessProbe, child(path, 'readinessProbe')));
  if (c.livenessProbe) errs.push(...validateProbeHandlers(c.livenessProbe, child(path, 'livenessProbe')));
  if (c.resources) errs.push(...validateResources(c.resources, child(path, 'resources')));
  (c.volumeMounts ?? []).forEach((m, i) => {
    const mountPath = m.mountPath.replace(/\/+$/, '') || '/';
    if (reservedMountPaths.includes(mountPath)) {
      errs.push(invalid(child(index(child(path, 'volumeMounts'), i), 'mountPath'), m.mountPath, 'is a reserved path'));
    }
  });
  return errs;
}

function validateEnv(env: EnvVar[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (env ?? []).forEach((e, i) => {
    const at = index(path, i);
    if (e.name === '') errs.push(required(child(at, 'name')));
    else for (const p of envVarNameProblems(e.name)) errs.push(invalid(child(at, 'name'), e.name, p));
    if (reservedEnvVars.includes(e.name)) {
      errs.push(invalid(child(at, 'name'), e.name, `is set by Skiff (reserved: ${reservedEnvVars.join(', ')})`));
    }
    if (e.value !== undefined && e.valueFrom !== undefined) {
      errs.push(invalid(child(at, 'valueFrom'), 'value and valueFrom', 'set only one of value and valueFrom'));
    }
    if (e.valueFrom) {
      const sources = Object.entries(e.valueFrom).filter(([, v]) => v !== undefined);
      if (sources.length !== 1) {
        errs.push(
          invalid(
            child(at, 'valueFrom'),
            sources.map(([k]) => k).join(', ') || 'none',
            'set exactly one of configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef',
          ),
        );
      }
    }
  });
  return errs;
}

const probeHandlers = ['httpGet', 'tcpSocket', 'exec', 'grpc'] as const;

function validateProbeHandlers(probe: Probe, path: string): FieldError[] {
  const set = probeHandlers.filter((h) => probe[h] !== undefined);
  if (set.length === 1) {
    if (probe.exec && !probe.exec.command?.length) return [required(child(child(path, 'exec'), 'command'))];
    return [];
  }
  return [
    invalid(path, set.length === 0 ? 'no handler' : set.join(', '), `set exactly one of ${probeHandlers.join(', ')}`),
  ];
}

/** Knative's readiness rules: `periodSeconds: 0` means aggressive probing with fixed timing. */
export function validateReadinessProbe(probe: Probe, path: string): FieldError[] {
  const errs = validateProbeHandlers(probe, path);
  const nonNegative = ['initialDelaySeconds', 'periodSeconds'] as const;
  for (const f of nonNegative) {
    const v = probe[f];
    if (v !== undefined && v < 0) errs.push(invalid(child(path, f), v, 'must be 0 or more'));
  }
  if (probe.successThreshold !== undefined && probe.successThreshold < 1) {
    errs.push(invalid(child(path, 'successThreshold'), probe.successThreshold, 'must be 1 or more'));
  }
  if (!probe.periodSeconds) {
    if (probe.failureThreshold) {
      errs.push(
        invalid(child(path, 'failureThreshold'), probe.failureThreshold, 'is not allowed when periodSeconds is 0'),
      );
    }
    if (probe.timeoutSeconds) {
      errs.push(invalid(child(path, 'timeoutSeconds'), probe.timeoutSeconds, 'is not allowed when periodSeconds is 0'));
    }
  } else {
    if (probe.timeoutSeconds !== undefined && probe.timeoutSeconds < 1) {
      errs.push(invalid(child(path, 'timeoutSeconds'), probe.timeoutSeconds, 'must be 1 or more'));
    }
    if (probe.failureThreshold !== undefined && probe.failureThreshold < 1) {
      errs.push(invalid(child(path, 'failureThreshold'), probe.failureThreshold, 'must be 1 or more'));
    }
  }
  return errs;
}

function validateResources(resources: NonNullable<Container['resources']>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const parsed: Record<'requests' | 'limits', Record<string, number>> = { requests: {}, limits: {} };
  for (const kind of ['requests', 'limits'] as const) {
    for (const [name, value] of Object.entries(resources[kind] ?? {})) {
      const q = parseQuantity(value);
      if (q === undefined) {
        errs.push(
          invalid(`${child(path, kind)}[${name}]`, value, 'must be a quantity such as "100m", "0.5" or "128Mi"'),
        );
      } else if (q < 0) {
        errs.push(invalid(`${child(path, kind)}[${name}]`, value, 'must be 0 or more'));
      } else parsed[kind][name] = q;
    }
  }
  for (const [name, request] of Object.entries(parsed.requests)) {
    const limit = parsed.limits[name];
    if (limit !== undefined && request > limit) {
      errs.push(
        invalid(
          `${child(path, 'requests')}[${name}]`,
          resources.requests?.[name],
          `must be less than or equal to the ${name} limit`,
        ),
      );
    }
  }
  return errs;
}
