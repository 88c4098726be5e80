import {
  type Configuration,
  conflict,
  type DomainMapping,
  decodeResource,
  failure,
  invalidStatus,
  metadataTypeProblem,
  type Route,
  type Service,
  type Status,
  type WritableKind,
  writableKind,
} from '@skiff/shared';
import type { ServiceWrite } from '../store/store.ts';
import { statusResponse } from './body.ts';
import type { ApiDeps } from './deps.ts';

type Admitted = { Service: Service; Configuration: Configuration; Route: Route; DomainMapping: DomainMapping };

/** Admission of a written Service (see `admit`). */
export function admitService(
  deps: ApiDeps,
  req: Request,
  namespace: string,
  input: unknown,
  urlName?: string,
): Service | Response {
  return admit(deps, req, 'Service', namespace, input, urlName);
}

/**
 * Admission of a written Service, Configuration, Route or DomainMapping: checks a body's kind, name and namespace
 * against the URL, drops the fields the server owns, then decodes (validates and defaults) it. A
 * `Response` is the refusal.
 */
export function admit<K extends WritableKind>(
  deps: ApiDeps,
  req: Request,
  expected: K,
  namespace: string,
  input: unknown,
  urlName?: string,
): Admitted[K] | Response {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return statusResponse(req, failure('BadRequest', `the body must be a ${expected} object`));
  }
  const obj = structuredClone(input) as { kind?: unknown; metadata?: Record<string, unknown> };
  const kind = writableKind(obj);
  if (kind && kind !== expected) {
    return statusResponse(
      req,
      failure(
        'BadRequest',
        `the kind of the object (${kind}) does not match the resource (${expected.toLowerCase()}s): write it to ${kind.toLowerCase()}s`,
      ),
    );
  }
  const metaProblem = metadataTypeProblem(expected, obj);
  if (metaProblem) return statusResponse(req, metaProblem);
  obj.metadata ??= {};
  const bodyNs = obj.metadata.namespace;
  if (bodyNs !== undefined && bodyNs !== namespace) {
    return statusResponse(
      req,
      failure(
        'BadRequest',
        `the namespace of the object (${String(bodyNs)}) does not match the namespace on the request (${namespace})`,
      ),
    );
  }
  obj.metadata.namespace = namespace;
  if (urlName !== undefined && obj.metadata.name !== undefined && obj.metadata.name !== urlName) {
    return statusResponse(
      req,
      failure(
        'BadRequest',
        `the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${urlName})`,
      ),
    );
  }
  if (urlName !== undefined) obj.metadata.name = urlName;
  if (!obj.metadata.name && typeof obj.metadata.generateName === 'string') {
    obj.metadata.name = `${obj.metadata.generateName}${randomSuffix()}`;
  }
  // Fields the server owns are not the client's to set.
  for (const f of ['uid', 'generation', 'creationTimestamp', 'managedFields']) delete obj.metadata[f];
  delete (obj as { status?: unknown }).status;
  const decoded = decodeResource(expected, obj, deps.autoscaler ? { autoscaler: deps.autoscaler } : {});
  if (!decoded.ok) return statusResponse(req, decoded.status);
  const value = decoded.value as Admitted[K];
  if ('template' in value.spec) {
    const causes = deps.validateTemplate?.(value.spec.template.spec, 'spec.template.spec') ?? [];
    if (causes.length > 0) return statusResponse(req, invalidStatus(expected, value.metadata.name, causes));
  }
  return value;
}

/** What the store keeps of an admitted Service. */
export function serviceWrite(svc: Service): ServiceWrite {
  return { labels: svc.metadata.labels ?? {}, annotations: svc.metadata.annotations ?? {}, spec: svc.spec };
}

export function staleConflict(name: string, kind = 'Service'): Status {
  return conflict(
    kind,
    name,
    'the object has been modified; please apply your changes to the latest version and try again',
  );
}

function randomSuffix(): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}
