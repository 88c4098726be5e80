// Knative's DomainMapping (serving.knative.dev/v1beta1): a custom domain (the object's name) that
// reaches a Service. Validation as Knative's `domainmapping_validation.go`, and its status
// (`domainmapping_lifecycle.go`) decided from what the control plane knows, purely.
import { type FieldError, forbidden, invalid, required } from '../errors/field-error.ts';
import { servingGroup } from '../errors/status.ts';
import type { ObjectMeta } from '../schemas/meta.ts';
import { validateAnnotationKeys, validateLabels } from './metadata.ts';
import { dns1123LabelProblems, dns1123SubdomainProblems } from './names.ts';

export const domainMappingApiVersion = `${servingGroup}/v1beta1`;

/**
 * What a domain reaches. Knative takes any Addressable whose address is a Kubernetes Service's
 * (`{name}.{namespace}.svc.cluster.local`): a Knative Service or Route (the whole traffic split),
 * or a Kubernetes Service, such as the placeholder Knative makes for a tag (`{tag}-{service}`:
 * that tag's revision alone). Skiff takes those three.
 */
export interface DomainMappingRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface DomainMappingSpec {
  ref: DomainMappingRef;
  /** A Kubernetes TLS Secret (`tls.crt`, `tls.key`) in the mapping's namespace. */
  tls?: { secretName: string };
}

/** A DomainMapping as written, once its shape is checked (`DomainMappingSchema`). */
export interface DomainMappingObject {
  metadata: ObjectMeta;
  spec: DomainMappingSpec;
}

/** Knative's cluster domain (`network.GetClusterDomainName()`): mapped domains stay outside it. */
const clusterDomain = 'cluster.local';

/**
 * Knative's rules for a DomainMapping's metadata (`domainmapping_validation.go`): its name is the
 * domain, a fully qualified lower-case one outside the cluster's domain; no `generateName`;
 * labels and annotations as on any object. Field paths are the object's.
 */
export function domainMappingMetadataProblems(meta: ObjectMeta): FieldError[] {
  const causes: FieldError[] = [];
  const name = meta.name;
  if (name === undefined || name === '') causes.push(required('metadata.name', 'the domain to map'));
  else {
    causes.push(...domainProblems(name).map((p) => invalid('metadata.name', name, p)));
    if (name.endsWith(`.${clusterDomain}`)) {
      causes.push(invalid('metadata.name', name, `must not be a subdomain of the cluster domain "${clusterDomain}"`));
    }
  }
  if (meta.generateName !== undefined) {
    causes.push(forbidden('metadata.generateName', 'a DomainMapping is named by its domain'));
  }
  causes.push(
    ...validateLabels(meta.labels, 'metadata.labels'),
    ...validateAnnotationKeys(meta.annotations, 'metadata.annotations'),
  );
  return causes;
}

/**
 * What `spec.ref` may name: a Knative Service or Route (`serving.knative.dev/v1`), or a Kubernetes
 * Service (`v1`, such as a tag's `{tag}-{service}`), by a DNS-1123 label.
 */
export function domainMappingRefProblems(ref: DomainMappingRef): FieldError[] {
  const causes: FieldError[] = [];
  if (ref.name === '') causes.push(required('spec.ref.name'));
  else for (const p of dns1123LabelProblems(ref.name)) causes.push(invalid('spec.ref.name', ref.name, p));
  const knative = ref.apiVersion === 'serving.knative.dev/v1';
  if (!knative && ref.apiVersion !== 'v1') {
    causes.push(
      invalid(
        'spec.ref.apiVersion',
        ref.apiVersion,
        "must be serving.knative.dev/v1 (a Knative Service or Route) or v1 (a Kubernetes Service, e.g. a tag's {tag}-{service})",
      ),
    );
  } else if (knative ? ref.kind !== 'Service' && ref.kind !== 'Route' : ref.kind !== 'Service') {
    causes.push(invalid('spec.ref.kind', ref.kind, knative ? 'must be Service or Route' : 'must be Service'));
  }
  return causes;
}

/** `spec.tls.secretName`: a Secret's name. */
export function secretNameProblems(tls: { secretName: string }): FieldError[] {
  if (tls.secretName === '') return [required('spec.tls.secretName')];
  return dns1123SubdomainProblems(tls.secretName).map((p) => invalid('spec.tls.secretName', tls.secretName, p));
}

/** Knative's default (`KReference.SetDefaults`): a ref without a namespace is in the mapping's. */
export function defaultDomainMapping<T extends DomainMappingObject>(dm: T): T {
  if (dm.spec.ref.namespace !== undefined || dm.metadata.namespace === undefined) return dm;
  return { ...dm, spec: { ...dm.spec, ref: { ...dm.spec.ref, namespace: dm.metadata.namespace } } };
}

/** What the shape cannot check: the ref stays in the mapping's namespace. */
export function validateDomainMapping(dm: DomainMappingObject): FieldError[] {
  const ns = dm.metadata.namespace;
  const refNs = dm.spec.ref.namespace;
  if (ns !== undefined && refNs !== undefined && refNs !== ns) {
    return [invalid('spec.ref.namespace', refNs, `must be the DomainMapping's namespace, ${ns}`)];
  }
  return [];
}

/** Problems with `name` as a domain to map: a lower-case DNS subdomain of two labels or more. */
export function domainProblems(name: string): string[] {
  const problems = dns1123SubdomainProblems(name);
  if (problems.length === 0 && !name.includes('.')) {
    problems.push('must be a fully qualified domain name with at least two labels (e.g. shop.example.com)');
  }
  if (problems.length === 0 && name.split('.').some((l) => l.length > 63)) {
    problems.push('each label must be no more than 63 characters');
  }
  return problems;
}

/** What a mapping reaches once resolved: a route's traffic split (a Service's or a Route's), or one of its tags. */
export interface MappingTarget {
  /** The Service or Route created directly (its part of the routing snapshot). */
  service: string;
  tag?: string;
}

/**
 * What a mapping can reach: a Knative Service's route, or a Route created directly (`kind`
 * `Route`), with the tags its traffic has.
 */
export interface MappingCandidate {
  name: string;
  tags: readonly string[];
  /** `Route` for a Route created directly; a Service (and so its own Route) by default. */
  kind?: 'Service' | 'Route';
}

/**
 * Resolves a mapping's `spec.ref` against the namespace's Services and Routes and the tags their
 * traffic has (pure), as Knative resolves an Addressable: a Knative Service by name
 * (`serving.knative.dev/v1` `Service`: never a Route created directly); a Knative Route by name,
 * a Service's own or one created directly; a Kubernetes Service (`v1`) by the name Knative gives
 * it, a route's own (`{route}`) or a tag's placeholder (`{tag}-{route}`). Undefined when nothing
 * has that name.
 */
export function mappingTarget(
  ref: DomainMappingRef,
  candidates: readonly MappingCandidate[],
): MappingTarget | undefined {
  const knativeService = ref.apiVersion === 'serving.knative.dev/v1' && ref.kind === 'Service';
  const reachable = knativeService ? candidates.filter((c) => (c.kind ?? 'Service') === 'Service') : candidates;
  if (reachable.some((s) => s.name === ref.name)) return { service: ref.name };
  if (ref.apiVersion !== 'v1') return undefined;
  for (const s of reachable) {
    const tag = s.tags.find((t) => `${t}-${s.name}` === ref.name);
    if (tag !== undefined) return { service: s.name, tag };
  }
  return undefined;
}

/**
 * The names of the Services `mappingTarget` could resolve these refs to (pure): each ref's name,
 * and each Service its name could be a tag placeholder of (`{tag}-{service}`: every suffix after a
 * `-`), sorted as the store lists Services. Resolving against these alone gives what resolving
 * against all of the namespace's Services gives, so a reconcile reads a few rows, not all 10,000.
 */
export function mappingCandidates(refs: readonly DomainMappingRef[]): string[] {
  const names = new Set<string>();
  for (const ref of refs) {
    names.add(ref.name);
    if (ref.apiVersion !== 'v1') continue;
    for (let i = ref.name.indexOf('-'); i >= 0; i = ref.name.indexOf('-', i + 1)) names.add(ref.name.slice(i + 1));
  }
  names.delete('');
  return [...names].sort();
}

/** Why a ref does not resolve, as `ReferenceResolved`'s message says it (Knative's wording). */
export function unresolvedMessage(ref: DomainMappingRef, namespace: string): string {
  const what =
    ref.apiVersion === 'v1' ? 'services' : `${ref.kind === 'Route' ? 'routes' : 'services'}.serving.knative.dev`;
  const tagHint =
    ref.apiVersion === 'v1'
      ? ' (no Knative Service of that name, and no Service has a tag making it: {tag}-{service})'
      : '';
  return `${what} ${JSON.stringify(ref.name)} not found in namespace ${namespace}${tagHint}`;
}

/** How the router gets a certificate for the mapped domain. */
export type DomainCertificate =
  /** No HTTPS listener: Knative's `TLSNotEnabled`. */
  | { kind: 'none' }
  /** The local CA issues on demand (`skiff up --tls`). */
  | { kind: 'local-ca'; caFile: string }
  /** From the TLS Secret: found and valid, or the problem with it. */
  | { kind: 'secret'; ok: true }
  | { kind: 'secret'; ok: false; reason: string; message: string }
  /** Ordered from an ACME server: held, or ordering (`pending`) or failed, with why. */
  | { kind: 'acme'; ok: true }
  | { kind: 'acme'; ok: false; pending: boolean; reason: string; message: string };

export interface DomainMappingFacts {
  /** The namespace that claimed the domain first, if not this mapping's. */
  claimedBy?: string;
  /** The referenced Service's URL when it exists and is Ready; else why not. */
  service: { ready: true } | { ready: false; reason: string; message: string };
  certificate: DomainCertificate;
  /** The time to stamp on conditions that change (ISO 8601). */
  now: string;
  generation: number;
}

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime: string;
}

/**
 * A DomainMapping's status as Knative reports it: `DomainClaimed` (one namespace per domain),
 * `ReferenceResolved` (the Service exists), `CertificateProvisioned` (`TLSNotEnabled` when there is
 * no HTTPS), `IngressReady` (the router serves it) and `Ready`, their AND; `url` https when served
 * over TLS. `previous` keeps each condition's transition time while its status stays.
 */
export function domainMappingStatus(
  name: string,
  facts: DomainMappingFacts,
  previous: { conditions?: Condition[] } | undefined,
): Record<string, unknown> {
  const conditions: Omit<Condition, 'lastTransitionTime'>[] = [];
  conditions.push(
    facts.claimedBy === undefined
      ? { type: 'DomainClaimed', status: 'True' }
      : {
          type: 'DomainClaimed',
          status: 'False',
          reason: 'DomainAlreadyClaimed',
          message: `The domain name is already in use by a DomainMapping in namespace ${JSON.stringify(facts.claimedBy)}`,
        },
  );
  conditions.push(
    facts.service.ready
      ? { type: 'ReferenceResolved', status: 'True' }
      : { type: 'ReferenceResolved', status: 'False', reason: facts.service.reason, message: facts.service.message },
  );
  const cert = facts.certificate;
  conditions.push(
    cert.kind === 'none'
      ? {
          type: 'CertificateProvisioned',
          status: 'True',
          reason: 'TLSNotEnabled',
          message: 'TLS is not enabled (skiff up --tls)',
        }
      : cert.kind === 'local-ca'
        ? {
            type: 'CertificateProvisioned',
            status: 'True',
            reason: 'LocalCA',
            message: `the router issues the certificate from the local CA (${cert.caFile})`,
          }
        : cert.ok
          ? { type: 'CertificateProvisioned', status: 'True' }
          : {
              type: 'CertificateProvisioned',
              status: cert.kind === 'acme' && cert.pending ? 'Unknown' : 'False',
              reason: cert.reason,
              message: cert.message,
            },
  );
  const served = facts.claimedBy === undefined && facts.service.ready && (cert.kind !== 'secret' || cert.ok);
  conditions.push(
    served
      ? { type: 'IngressReady', status: 'True' }
      : {
          type: 'IngressReady',
          status: 'False',
          reason: 'NotServed',
          message: 'the router does not serve this domain until the conditions above are True',
        },
  );
  const failed = conditions.find((c) => c.status !== 'True');
  conditions.unshift(
    failed === undefined
      ? { type: 'Ready', status: 'True' }
      : {
          type: 'Ready',
          status: failed.status === 'Unknown' ? 'Unknown' : 'False',
          reason: failed.reason ?? failed.type,
          message: failed.message ?? '',
        },
  );
  const before = new Map((previous?.conditions ?? []).map((c) => [c.type, c]));
  // An ACME domain is served over plain HTTP until its certificate is held (Knative's HTTP downgrade).
  const scheme = cert.kind === 'none' || (cert.kind === 'acme' && !cert.ok) ? 'http' : 'https';
  return {
    observedGeneration: facts.generation,
    conditions: conditions.map((c) => {
      const old = before.get(c.type);
      return { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : facts.now };
    }),
    url: `${scheme}://${name}`,
    address: { url: `${scheme}://${name}` },
  };
}
