import { z } from 'zod';

const intOrString = z.union([z.int(), z.string()]);
const quantity = z.union([z.string(), z.number()]);

/** `env[].valueFrom`: exactly one source (checked in validation). */
export const EnvVarSourceSchema = z.strictObject({
  configMapKeyRef: z
    .object({ name: z.string().optional(), key: z.string(), optional: z.boolean().optional() })
    .loose()
    .optional(),
  secretKeyRef: z
    .object({ name: z.string().optional(), key: z.string(), optional: z.boolean().optional() })
    .loose()
    .optional(),
  fieldRef: z.object({ apiVersion: z.string().optional(), fieldPath: z.string() }).loose().optional(),
  resourceFieldRef: z
    .object({ containerName: z.string().optional(), resource: z.string(), divisor: quantity.optional() })
    .loose()
    .optional(),
});

export const EnvVarSchema = z.strictObject({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: EnvVarSourceSchema.optional(),
});
export type EnvVar = z.infer<typeof EnvVarSchema>;

export const ContainerPortSchema = z.strictObject({
  name: z.string().optional(),
  containerPort: z.int(),
  protocol: z.string().optional(),
  hostPort: z.int().optional(),
  hostIP: z.string().optional(),
});
export type ContainerPort = z.infer<typeof ContainerPortSchema>;

export const HTTPHeaderSchema = z.strictObject({ name: z.string(), value: z.string() });

export const HTTPGetActionSchema = z.strictObject({
  path: z.string().optional(),
  port: intOrString.optional(),
  host: z.string().optional(),
  scheme: z.enum(['HTTP', 'HTTPS']).optional(),
  httpHeaders: z.array(HTTPHeaderSchema).optional(),
});
export type HTTPGetAction = z.infer<typeof HTTPGetActionSchema>;

export const TCPSocketActionSchema = z.strictObject({
  port: intOrString.optional(),
  host: z.string().optional(),
});
export type TCPSocketAction = z.infer<typeof TCPSocketActionSchema>;

export const ExecActionSchema = z.strictObject({ command: z.array(z.string()).optional() });
export type ExecAction = z.infer<typeof ExecActionSchema>;

export const GRPCActionSchema = z.strictObject({ port: z.int(), service: z.string().optional() });

/** A readiness (or liveness) probe; the same JSON is handed to the queue-proxy. */
export const ProbeSchema = z.strictObject({
  httpGet: HTTPGetActionSchema.optional(),
  tcpSocket: TCPSocketActionSchema.optional(),
  exec: ExecActionSchema.optional(),
  grpc: GRPCActionSchema.optional(),
  initialDelaySeconds: z.int().optional(),
  timeoutSeconds: z.int().optional(),
  periodSeconds: z.int().optional(),
  successThreshold: z.int().optional(),
  failureThreshold: z.int().optional(),
  terminationGracePeriodSeconds: z.int().optional(),
});
export type Probe = z.infer<typeof ProbeSchema>;

export const ResourceRequirementsSchema = z.strictObject({
  limits: z.record(z.string(), quantity).optional(),
  requests: z.record(z.string(), quantity).optional(),
});
export type ResourceRequirements = z.infer<typeof ResourceRequirementsSchema>;

/** A volume mount: the fields Knative allows (`VolumeMountMask`). */
export const VolumeMountSchema = z.strictObject({
  name: z.string(),
  mountPath: z.string(),
  readOnly: z.boolean().optional(),
  subPath: z.string().optional(),
});

const LocalObjectReference = z.strictObject({ name: z.string().optional(), optional: z.boolean().optional() });

/** `envFrom[]`: a ConfigMap or Secret whose keys become env vars (`EnvFromSourceMask`). */
export const EnvFromSourceSchema = z.strictObject({
  prefix: z.string().optional(),
  configMapRef: LocalObjectReference.optional(),
  secretRef: LocalObjectReference.optional(),
});

/**
 * A container of a revision: the fields Knative allows (`ContainerMask`); any other field is
 * refused by name, as Knative's webhook refuses it. `image` is what Kubernetes runs;
 * `command`/`args`/`workingDir` are what the local backend runs.
 */
export const ContainerSchema = z.strictObject({
  name: z.string().optional(),
  image: z.string().optional().describe('Container image to run (the Kubernetes backend).'),
  command: z
    .array(z.string())
    .optional()
    .describe('Entrypoint: what the local backend runs (with args), with PORT in its environment.'),
  args: z.array(z.string()).optional().describe('Arguments to the entrypoint.'),
  workingDir: z.string().optional(),
  env: z.array(EnvVarSchema).optional().describe('Environment variables of the container.'),
  envFrom: z.array(EnvFromSourceSchema).optional(),
  ports: z
    .array(ContainerPortSchema)
    .optional()
    .describe('At most one port: where the app listens (PORT, default 8080).'),
  readinessProbe: ProbeSchema.optional().describe('How the queue-proxy tells that a replica is ready for requests.'),
  livenessProbe: ProbeSchema.optional(),
  startupProbe: ProbeSchema.optional(),
  resources: ResourceRequirementsSchema.optional().describe('CPU and memory requests and limits.'),
  volumeMounts: z.array(VolumeMountSchema).optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  // Checked field by field where Knative checks them (`SecurityContextMask`, feature flags).
  securityContext: z.object({}).loose().optional(),
  terminationMessagePath: z.string().optional(),
  terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']).optional(),
});
export type Container = z.infer<typeof ContainerSchema>;
