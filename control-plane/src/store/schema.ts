import type {
  DomainMappingSpec,
  ManagedFieldsEntry,
  ObjectMeta,
  RevisionSpec,
  RouteSpec,
  ServiceSpec,
} from '@skiff/shared';
import { foreignKey, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { RolloutState } from '../rollout/decider.ts';

/**
 * The store: desired state and status of every Service and Revision, an append-only audit log,
 * and counters. Every write that matters is one synchronous transaction.
 */

/**
 * One Service, or one Configuration a user created directly (`kind`): what the user asked for
 * (spec, labels, annotations) and what Skiff reports (status). Both stamp revisions from their
 * template the same way; a Configuration's spec has no traffic and nothing routes to it but Routes.
 * A Service's own Configuration and Route are views of its row.
 */
export const services = sqliteTable(
  'services',
  {
    namespace: text().notNull(),
    name: text().notNull(),
    kind: text().$type<TemplateKind>().notNull().default('Service'),
    uid: text().notNull(),
    /** Bumped on every spec change (Kubernetes `metadata.generation`). */
    generation: integer().notNull(),
    /** Global write counter at this row's last change (Kubernetes `metadata.resourceVersion`). */
    resourceVersion: integer().notNull(),
    labels: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    annotations: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    /** The spec after Knative's defaulting. */
    spec: text({ mode: 'json' }).$type<ServiceSpec>().notNull(),
    status: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    /** How many revisions the template has produced (Knative's Configuration generation). */
    configGeneration: integer().notNull().default(0),
    createdAt: text().notNull(),
    /** Who owns which fields (`metadata.managedFields`, server-side apply). */
    managedFields: text({ mode: 'json' }).$type<ManagedFieldsEntry[]>().notNull().default([]),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.name] }), uniqueIndex('services_uid').on(t.uid)],
);

/** A Route a user created directly: traffic split among revisions of any configurations. */
export const routes = sqliteTable(
  'routes',
  {
    namespace: text().notNull(),
    name: text().notNull(),
    uid: text().notNull(),
    generation: integer().notNull(),
    resourceVersion: integer().notNull(),
    labels: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    annotations: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    /** The spec after Knative's defaulting. */
    spec: text({ mode: 'json' }).$type<RouteSpec>().notNull(),
    status: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    createdAt: text().notNull(),
    managedFields: text({ mode: 'json' }).$type<ManagedFieldsEntry[]>().notNull().default([]),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.name] }), uniqueIndex('routes_uid').on(t.uid)],
);

/** One immutable Revision: a snapshot of a Service's (or Configuration's) template. */
export const revisions = sqliteTable(
  'revisions',
  {
    namespace: text().notNull(),
    name: text().notNull(),
    service: text().notNull(),
    uid: text().notNull(),
    /** The template generation that made it (the N in `hello-0000N`). */
    configGeneration: integer().notNull(),
    templateHash: text().notNull(),
    labels: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    annotations: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    spec: text({ mode: 'json' }).$type<RevisionSpec>().notNull(),
    status: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    resourceVersion: integer().notNull(),
    createdAt: text().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.namespace, t.name] }),
    index('revisions_service').on(t.namespace, t.service, t.configGeneration),
    // A Service's revisions go with it.
    foreignKey({ columns: [t.namespace, t.service], foreignColumns: [services.namespace, services.name] }).onDelete(
      'cascade',
    ),
  ],
);

/**
 * A Service's rollout: how its `latestRevision` traffic is shared while a new revision takes over,
 * the step it is at, and how the last one ended (`../rollout/decider.ts`). Written durably at each
 * step so a restarted control plane resumes from it.
 */
export const rollouts = sqliteTable(
  'rollouts',
  {
    namespace: text().notNull(),
    name: text().notNull(),
    state: text({ mode: 'json' }).$type<RolloutState>().notNull(),
    updatedAt: text().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.namespace, t.name] }),
    foreignKey({ columns: [t.namespace, t.name], foreignColumns: [services.namespace, services.name] }).onDelete(
      'cascade',
    ),
  ],
);

/**
 * A DomainMapping (serving.knative.dev/v1beta1): a domain (its name) that reaches a Service. The
 * same domain may be asked for in several namespaces; the oldest claim wins (Knative's
 * ClusterDomainClaim), the others report `DomainClaimed: False`.
 */
export const domainMappings = sqliteTable(
  'domain_mappings',
  {
    namespace: text().notNull(),
    name: text().notNull(),
    uid: text().notNull(),
    generation: integer().notNull(),
    resourceVersion: integer().notNull(),
    labels: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    annotations: text({ mode: 'json' }).$type<Record<string, string>>().notNull(),
    spec: text({ mode: 'json' }).$type<DomainMappingSpec>().notNull(),
    status: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    createdAt: text().notNull(),
    /** Who owns which fields (`metadata.managedFields`, server-side apply). */
    managedFields: text({ mode: 'json' }).$type<ManagedFieldsEntry[]>().notNull().default([]),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.name] }), index('domain_mappings_name').on(t.name)],
);

/** Who did what, when: deploys, updates, traffic changes, rollbacks, deletes, scale decisions. */
export const audit = sqliteTable(
  'audit',
  {
    // The rowid (no AUTOINCREMENT: its sqlite_sequence row was written on every insert, 2% of the
    // control plane's CPU under creates; audit rows are never deleted, so ids still only grow).
    id: integer().primaryKey(),
    at: text().notNull(),
    actor: text().notNull(),
    action: text().notNull(),
    namespace: text().notNull(),
    name: text().notNull(),
    detail: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  },
  (t) => [index('audit_object').on(t.namespace, t.name)],
);

/** Named counters: the global resourceVersion and the routing snapshot version. */
export const counters = sqliteTable('counters', {
  name: text().primaryKey(),
  value: integer().notNull(),
});

/**
 * Every change to a Service or Revision, keyed by the resourceVersion it made: what a watch from a
 * resourceVersion replays (kube-apiserver's etcd history). Older entries are compacted away.
 */
export const events = sqliteTable(
  'events',
  {
    resourceVersion: integer().primaryKey(),
    /** `services`, `revisions` or `domainmappings`. */
    resource: text().$type<EventResource>().notNull(),
    type: text().$type<EventType>().notNull(),
    namespace: text().notNull(),
    name: text().notNull(),
    /** The row after the change (before it, for a deletion), at this resourceVersion. */
    object: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  },
  (t) => [index('events_object').on(t.resource, t.namespace, t.name)],
);

/** `services` holds Services and Configurations (by their row's `kind`). */
export type EventResource = 'services' | 'revisions' | 'routes' | 'domainmappings';
/** What a row of `services` is. */
export type TemplateKind = 'Service' | 'Configuration';
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * ACME accounts, one per directory URL: the account key sealed with the store key (`acme/seal.ts`),
 * never in clear on disk.
 */
export const acmeAccounts = sqliteTable('acme_accounts', {
  directory: text().primaryKey(),
  /** The account's URL at the server (its `kid`). */
  url: text().notNull(),
  sealedKey: text().notNull(),
  createdAt: text().notNull(),
});

/**
 * ACME certificates, one per domain: chain and private key sealed together; serial and validity in
 * clear for status and renewal.
 */
export const acmeCertificates = sqliteTable('acme_certificates', {
  domain: text().primaryKey(),
  directory: text().notNull(),
  sealed: text().notNull(),
  serial: text().notNull(),
  notBefore: text().notNull(),
  notAfter: text().notNull(),
  issuedAt: text().notNull(),
});

export type ServiceRow = typeof services.$inferSelect;
export type RevisionRow = typeof revisions.$inferSelect;
export type RouteRow = typeof routes.$inferSelect;
export type AuditRow = typeof audit.$inferSelect;
export type RolloutRow = typeof rollouts.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type DomainMappingRow = typeof domainMappings.$inferSelect;
export type AcmeAccountRow = typeof acmeAccounts.$inferSelect;
export type AcmeCertificateRow = typeof acmeCertificates.$inferSelect;
export type { ObjectMeta };
