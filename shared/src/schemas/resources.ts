import { z } from 'zod';
import { apiVersion, ObjectMetaSchema, statusBase } from './meta.ts';
import { RevisionTemplateSpecSchema } from './revision.ts';
import { TrafficTargetSchema } from './traffic.ts';

/** `status.address` (duckv1.Addressable). */
const AddressSchema = z.object({ url: z.string().optional() }).loose();

/** Status of a revision as the Service, Configuration and Route report it. */
const RevisionReplicasSchema = z.object({
  revisionName: z.string(),
  actualReplicas: z.int(),
  desiredReplicas: z.int(),
});

const configurationStatusFields = {
  latestCreatedRevisionName: z.string().optional(),
  latestReadyRevisionName: z.string().optional(),
};

const routeStatusFields = {
  url: z.string().optional(),
  address: AddressSchema.optional(),
  traffic: z.array(TrafficTargetSchema).optional(),
};

export const ConfigurationSpecSchema = z.strictObject({
  template: RevisionTemplateSpecSchema.describe(
    'The template of the next revision: each change to it makes a new, immutable Revision.',
  ),
});
export type ConfigurationSpec = z.infer<typeof ConfigurationSpecSchema>;
export const RouteSpecSchema = z.strictObject({
  traffic: z
    .array(TrafficTargetSchema)
    .optional()
    .describe('How traffic is split among revisions, named or the latest ready one of a configuration.'),
});
export type RouteSpec = z.infer<typeof RouteSpecSchema>;

export const ServiceSpecSchema = z.strictObject({
  template: RevisionTemplateSpecSchema.describe(
    'The template of the next revision: each change to it makes a new, immutable Revision.',
  ),
  traffic: z
    .array(TrafficTargetSchema)
    .optional()
    .describe('How traffic is split among revisions (default: all to the latest ready revision).'),
});
export type ServiceSpec = z.infer<typeof ServiceSpecSchema>;

export const ServiceStatusSchema = z
  .object({
    ...statusBase,
    ...configurationStatusFields,
    ...routeStatusFields,
    /** Skiff's addition: replicas per revision that has traffic or replicas. */
    revisions: z.array(RevisionReplicasSchema).optional(),
  })
  .loose();
export type ServiceStatus = z.infer<typeof ServiceStatusSchema>;

export const ServiceSchema = z.strictObject({
  apiVersion: z.literal(apiVersion),
  kind: z.literal('Service'),
  metadata: ObjectMetaSchema,
  spec: ServiceSpecSchema,
  status: ServiceStatusSchema.optional(),
});
export type Service = z.infer<typeof ServiceSchema>;

export const ConfigurationStatusSchema = z.object({ ...statusBase, ...configurationStatusFields }).loose();
export const ConfigurationSchema = z.strictObject({
  apiVersion: z.literal(apiVersion),
  kind: z.literal('Configuration'),
  metadata: ObjectMetaSchema,
  spec: ConfigurationSpecSchema,
  status: ConfigurationStatusSchema.optional(),
});
export type Configuration = z.infer<typeof ConfigurationSchema>;

export const RouteStatusSchema = z.object({ ...statusBase, ...routeStatusFields }).loose();
export const RouteSchema = z.strictObject({
  apiVersion: z.literal(apiVersion),
  kind: z.literal('Route'),
  metadata: ObjectMetaSchema,
  spec: RouteSpecSchema,
  status: RouteStatusSchema.optional(),
});
export type Route = z.infer<typeof RouteSchema>;

/** A Kubernetes-style list (`ServiceList`, ...). */
export interface ResourceList<T> {
  apiVersion: typeof apiVersion;
  kind: string;
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export const kinds = ['Service', 'Configuration', 'Revision', 'Route'] as const;
export type Kind = (typeof kinds)[number];
