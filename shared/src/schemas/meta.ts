import { z } from 'zod';

export const apiVersion = 'serving.knative.dev/v1';

/** Kubernetes ObjectMeta: the fields Skiff reads; any other metadata is kept as given. */
export const ObjectMetaSchema = z
  .object({
    name: z.string().optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    generation: z.int().optional(),
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
    creationTimestamp: z.string().nullable().optional(),
  })
  .loose();
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
