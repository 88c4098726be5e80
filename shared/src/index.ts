// @skiff/shared: the resource model, its defaults and validation, and the wire contracts between
// Skiff's parts. No I/O and no runtime-specific imports: it runs in Node, Deno and workerd alike.

export * from './config/autoscaling.ts';
export * from './config/duration.ts';
export * from './config/queue-proxy.ts';
export * from './config/revision-defaults.ts';
export * from './config/rollout.ts';
export * from './defaulting.ts';
export * from './errors/field-error.ts';
export * from './errors/status.ts';
export * from './metrics/prometheus.ts';
export * from './naming/md5.ts';
export * from './naming/names.ts';
export * from './naming/template-hash.ts';
export * from './naming/urls.ts';
export * from './parse/decode.ts';
export * from './parse/documents.ts';
export * from './parse/json-locate.ts';
export * from './schemas/container.ts';
export * from './schemas/meta.ts';
export * from './schemas/resources.ts';
export * from './schemas/revision.ts';
export * from './schemas/traffic.ts';
export * from './validation/autoscaling.ts';
export * from './validation/domain-mapping.ts';
export * from './validation/metadata.ts';
export * from './validation/names.ts';
export * from './validation/quantity.ts';
export * from './validation/resources.ts';
export * from './validation/revision.ts';
export * from './validation/rollout.ts';
export * from './validation/traffic.ts';
export * from './wire/cold-start.ts';
export * from './wire/http.ts';
export * from './wire/routing.ts';
export * from './wire/stats.ts';
export * from './wire/token.ts';
