import { z } from 'zod';

/** One traffic target of a route (`route_types.go`). */
export const TrafficTargetSchema = z.strictObject({
  tag: z
    .string()
    .optional()
    .describe('Names this target: it also answers at its own URL, TAG-SERVICE.NAMESPACE.DOMAIN.'),
  revisionName: z.string().optional().describe('The revision that receives this share of the traffic.'),
  configurationName: z
    .string()
    .optional()
    .describe('The configuration whose latest ready revision receives this share.'),
  latestRevision: z
    .boolean()
    .optional()
    .describe('True: follow the latest ready revision (then revisionName is not set).'),
  percent: z.int().nullable().optional().describe('Share of the traffic, 0 to 100; all targets add up to 100.'),
  url: z.string().optional().describe('Where a tagged target answers (status only).'),
});
export type TrafficTarget = z.infer<typeof TrafficTargetSchema>;
