import { z } from 'zod';
import {
  domainMappingApiVersion,
  domainMappingMetadataProblems,
  domainMappingRefProblems,
  secretNameProblems,
} from '../validation/domain-mapping.ts';
import { ObjectMetaSchema, statusBase } from './meta.ts';
import { knativeRules } from './rules.ts';

/**
 * Knative's DomainMapping (serving.knative.dev/v1beta1) as its CRD publishes it: what OpenAPI
 * serves for `kubectl explain` and client-side validation, and what checks every write
 * (`decodeResource`), with Knative's rules (`../validation/domain-mapping.ts`) as refinements of
 * the parts they check.
 */
export const DomainMappingRefSchema = z
  .strictObject({
    apiVersion: z
      .string()
      .describe(
        'API version of the referent: serving.knative.dev/v1 (a Knative Service or Route), or v1 (a Kubernetes Service).',
      ),
    kind: z.string().describe('Kind of the referent: Service or Route (serving.knative.dev/v1), Service (v1).'),
    name: z
      .string()
      .describe(
        "Name of the Service the domain reaches; for one tag of it, the tag's Kubernetes Service {tag}-{service} (apiVersion v1).",
      ),
    namespace: z.string().optional().describe("Namespace of the referent: the DomainMapping's own."),
  })
  .superRefine(knativeRules(domainMappingRefProblems))
  .describe('The Service the domain reaches, or a tag of it.');

export const DomainMappingSpecSchema = z.strictObject({
  ref: DomainMappingRefSchema,
  tls: z
    .strictObject({
      secretName: z.string().describe('A Kubernetes TLS Secret (tls.crt, tls.key) in the same namespace.'),
    })
    .superRefine(knativeRules(secretNameProblems))
    .optional()
    .describe('The certificate to serve the domain with over HTTPS.'),
});

export const DomainMappingStatusSchema = z
  .object({
    ...statusBase,
    url: z.string().optional().describe('Where the domain answers.'),
    address: z.object({ url: z.string().optional() }).loose().optional(),
  })
  .loose();

export const DomainMappingSchema = z.strictObject({
  apiVersion: z.literal(domainMappingApiVersion),
  kind: z.literal('DomainMapping'),
  metadata: ObjectMetaSchema.superRefine(knativeRules(domainMappingMetadataProblems)),
  spec: DomainMappingSpecSchema,
  status: DomainMappingStatusSchema.optional(),
});
export type DomainMapping = z.infer<typeof DomainMappingSchema>;
