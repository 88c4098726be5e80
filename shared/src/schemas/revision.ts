import { z } from 'zod';
import { ContainerSchema } from './container.ts';
import { apiVersion, ObjectMetaSchema, statusBase } from './meta.ts';

/**
 * RevisionSpec: Knative's settings plus the fields of a Kubernetes PodSpec that Knative allows
 * (`PodSpecMask`, with its feature flags at their defaults); any other field is refused by name.
 */
export const RevisionSpecSchema = z.strictObject({
  containerConcurrency: z.int().optional(),
  timeoutSeconds: z.int().optional(),
  responseStartTimeoutSeconds: z.int().optional(),
  idleTimeoutSeconds: z.int().optional(),
  containers: z.array(ContainerSchema),
  serviceAccountName: z.string().optional(),
  enableServiceLinks: z.boolean().optional(),
  automountServiceAccountToken: z.boolean().optional(),
  imagePullSecrets: z.array(z.strictObject({ name: z.string() })).optional(),
  // A volume's source is checked where it is used.
  volumes: z.array(z.object({ name: z.string() }).loose()).optional(),
});
export type RevisionSpec = z.infer<typeof RevisionSpecSchema>;

/** `spec.template` of a Service or Configuration: the metadata and spec of the next revision. */
export const RevisionTemplateSpecSchema = z.strictObject({
  metadata: ObjectMetaSchema.optional(),
  spec: RevisionSpecSchema,
});
export type RevisionTemplateSpec = z.infer<typeof RevisionTemplateSpecSchema>;

export const RevisionStatusSchema = z
  .object({
    ...statusBase,
    logUrl: z.string().optional(),
    containerStatuses: z.array(z.object({ name: z.string(), imageDigest: z.string().optional() })).optional(),
    actualReplicas: z.int().optional(),
    desiredReplicas: z.int().optional(),
  })
  .loose();
export type RevisionStatus = z.infer<typeof RevisionStatusSchema>;

export const RevisionSchema = z.strictObject({
  apiVersion: z.literal(apiVersion),
  kind: z.literal('Revision'),
  metadata: ObjectMetaSchema,
  spec: RevisionSpecSchema,
  status: RevisionStatusSchema.optional(),
});
export type Revision = z.infer<typeof RevisionSchema>;
