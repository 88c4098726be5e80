import { z } from 'zod';

export const apiVersion = 'serving.knative.dev/v1';

/**
 * Kubernetes ObjectMeta: the fields Skiff reads, typed; the others kept as given. A field that is
 * not ObjectMeta's is refused, as kube-apiserver's strict field validation refuses it.
 */
/** One entry of `metadata.managedFields`: who owns which fields (server-side apply). */
export const ManagedFieldsEntrySchema = z.object({
  manager: z.string(),
  operation: z.enum(['Apply', 'Update']),
  apiVersion: z.string(),
  time: z.string(),
  fieldsType: z.literal('FieldsV1'),
  fieldsV1: z.record(z.string(), z.unknown()),
  subresource: z.string().optional(),
});
export type ManagedFieldsEntry = z.infer<typeof ManagedFieldsEntrySchema>;

export const ObjectMetaSchema = z.strictObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  uid: z.string().optional(),
  creationTimestamp: z.string().nullable().optional(),
  selfLink: z.string().optional(),
  deletionTimestamp: z.string().nullable().optional(),
  deletionGracePeriodSeconds: z.int().nullable().optional(),
  ownerReferences: z.array(z.object({}).loose()).optional(),
  finalizers: z.array(z.string()).optional(),
  managedFields: z.array(ManagedFieldsEntrySchema.loose()).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

/** `status.conditions[]` (knative.dev/pkg/apis.Condition). */
export const ConditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  severity: z.enum(['', 'Warning', 'Info']).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});
export type Condition = z.infer<typeof ConditionSchema>;
export type ConditionStatus = Condition['status'];

/** The status fields every Knative resource has (duckv1.Status). */
export const statusBase = {
  observedGeneration: z.int().optional(),
  conditions: z.array(ConditionSchema).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
};
