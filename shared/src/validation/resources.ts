import type { AutoscalerConfig } from '../config/autoscaling.ts';
import { parseDuration } from '../config/duration.ts';
import { httpProtocolAnnotation, httpProtocols, isHttpProtocol } from '../config/network.ts';
import type { RevisionDefaults } from '../config/revision-defaults.ts';
import { child, type FieldError, invalid, key, notSupported } from '../errors/field-error.ts';
import { jsonEqual } from '../naming/template-hash.ts';
import { clusterLocal, visibilityLabel } from '../naming/urls.ts';
import type { ObjectMeta } from '../schemas/meta.ts';
import type { Configuration, Route, Service } from '../schemas/resources.ts';
import type { RevisionTemplateSpec } from '../schemas/revision.ts';
import { validateAutoscalingAnnotations } from './autoscaling.ts';
import { validateObjectMeta } from './metadata.ts';
import { validateRevisionTemplate } from './revision.ts';
import { validateRolloutAnnotations } from './rollout.ts';
import { validateTraffic } from './traffic.ts';

export interface ValidationOptions {
  defaults?: RevisionDefaults;
  autoscaler?: AutoscalerConfig;
}

export const rolloutDurationAnnotation = 'serving.knative.dev/rollout-duration';

/** Validates a defaulted Service: metadata, template and traffic. Returns every problem found. */
export function validateService(service: Service, opts: ValidationOptions = {}): FieldError[] {
  const meta = service.metadata;
  return [
    ...validateObjectMeta(meta, 'metadata', { nameIsDns1035: true, nameRequired: true }),
    ...validateRoutingMeta(meta, 'metadata'),
    // Knative validates autoscaling annotations on the object's own metadata as on the template's.
    ...validateAutoscalingAnnotations(meta.annotations, 'metadata.annotations', opts.autoscaler),
    ...validateRolloutAnnotations(meta.annotations, 'metadata'),
    ...validateHttpProtocol(meta.annotations),
    ...validateRevisionTemplate(service.spec.template, 'spec.template', { parent: meta, ...opts }),
    ...validateTraffic(service.spec.traffic ?? [], 'spec.traffic', { serviceName: meta.name, inService: true }),
  ];
}

function validateHttpProtocol(annotations: Record<string, string> | undefined): FieldError[] {
  const value = annotations?.[httpProtocolAnnotation];
  if (value === undefined || isHttpProtocol(value)) return [];
  return [
    {
      field: `metadata.annotations[${httpProtocolAnnotation}]`,
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${httpProtocols.map((p) => JSON.stringify(p)).join(', ')}`,
    },
  ];
}

export function validateConfiguration(configuration: Configuration, opts: ValidationOptions = {}): FieldError[] {
  const meta = configuration.metadata;
  return [
    ...validateObjectMeta(meta, 'metadata', { nameIsDns1035: true, nameRequired: true }),
    ...validateAutoscalingAnnotations(meta.annotations, 'metadata.annotations', opts.autoscaler),
    ...validateRevisionTemplate(configuration.spec.template, 'spec.template', { parent: meta, ...opts }),
  ];
}

export function validateRoute(route: Route): FieldError[] {
  const meta = route.metadata;
  return [
    ...validateObjectMeta(meta, 'metadata', { nameIsDns1035: true, nameRequired: true }),
    ...validateRoutingMeta(meta, 'metadata'),
    ...validateTraffic(route.spec.traffic ?? [], 'spec.traffic', { serviceName: meta.name, inService: false }),
  ];
}

/** Labels and annotations on a Service or Route that change how it is routed. */
function validateRoutingMeta(meta: ObjectMeta, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const visibility = meta.labels?.[visibilityLabel];
  if (visibility !== undefined && visibility !== clusterLocal) {
    errs.push(notSupported(key(child(path, 'labels'), visibilityLabel), visibility, [clusterLocal]));
  }
  const rollout = meta.annotations?.[rolloutDurationAnnotation];
  if (rollout !== undefined) {
    const ms = parseDuration(rollout);
    const at = key(child(path, 'annotations'), rolloutDurationAnnotation);
    if (ms === undefined || ms < 0) errs.push(invalid(at, rollout, 'must be a non-negative duration such as "120s"'));
    else if (ms % 1000 !== 0) errs.push(invalid(at, rollout, 'must be specified with at most second precision'));
  }
  return errs;
}

/**
 * A template that keeps its chosen revision name must not change (`VerifyNameChange`): the name
 * would then stand for two different revisions.
 */
export function verifyNameChange(
  previous: RevisionTemplateSpec,
  next: RevisionTemplateSpec,
  path = 'spec.template',
): FieldError | undefined {
  const name = next.metadata?.name;
  if (!name || name !== previous.metadata?.name) return undefined;
  if (jsonEqual(previous, next)) return undefined;
  return invalid(
    child(child(path, 'metadata'), 'name'),
    name,
    'the template changed but its revision name did not; choose a new name (or remove it to have one generated)',
  );
}
