import { z } from 'zod';
import { ContainerSchema } from './container.ts';
import { apiVersion, ObjectMetaSchema, statusBase } from './meta.ts';

/**
 * RevisionSpec: Knative's settings plus the fields of a Kubernetes PodSpec that Knative allows
 * (`PodSpecMask`, with its feature flags at their defaults); any other field is refused by name.
 */
export const RevisionSpecSchema = z.strictObject({
  containerConcurrency: z
    .int()
    .optional()
    .describe('Most requests one replica handles at once; 0 means no limit (the default).'),
  timeoutSeconds: z.int().optional().describe('Longest time a request may take, in seconds (default 300).'),
  responseStartTimeoutSeconds: z
    .int()
    .optional()
    .describe('Longest wait for the first byte of a response, in seconds.'),
  idleTimeoutSeconds: z.int().optional().describe('Longest time a response may go without sending bytes, in seconds.'),
  containers: z
    .array(ContainerSchema)
    .describe('The container to run: exactly one serving container (the one that gets PORT).'),
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
  metadata: ObjectMetaSchema.optional().describe(
    "Labels and annotations of the revision (autoscaling.knative.dev/* annotations tune scaling); name it SERVICE-SUFFIX to choose the revision's name.",
  ),
  spec: RevisionSpecSchema.describe('What each replica of the revision runs.'),
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
