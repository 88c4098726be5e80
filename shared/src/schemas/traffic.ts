import { z } from 'zod';

/** One traffic target of a route (`route_types.go`). */
export const TrafficTargetSchema = z.strictObject({
  tag: z.string().optional(),
  revisionName: z.string().optional(),
  configurationName: z.string().optional(),
  latestRevision: z.boolean().optional(),
  percent: z.int().nullable().optional(),
  url: z.string().optional(),
});
export type TrafficTarget = z.infer<typeof TrafficTargetSchema>;
