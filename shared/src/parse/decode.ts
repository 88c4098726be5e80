import type { z } from 'zod';
import { defaultConfiguration, defaultRoute, defaultService } from '../defaulting.ts';
import { type FieldError, forbidden, invalid, notSupported, required, show } from '../errors/field-error.ts';
import { invalidStatus, type Status } from '../errors/status.ts';
import { type DomainMapping, DomainMappingSchema } from '../schemas/domain-mapping.ts';
import { apiVersion } from '../schemas/meta.ts';
import {
  type Configuration,
  ConfigurationSchema,
  type Kind,
  type Route,
  RouteSchema,
  type Service,
  ServiceSchema,
} from '../schemas/resources.ts';
import { defaultDomainMapping, validateDomainMapping } from '../validation/domain-mapping.ts';
import {
  type ValidationOptions,
  validateConfiguration,
  validateRoute,
  validateService,
} from '../validation/resources.ts';
import type { Parsed } from './documents.ts';

/** Map-valued fields whose keys are data, written `labels[app]` rather than `labels.app`. */
const mapFields = new Set(['labels', 'annotations', 'limits', 'requests']);
const plainKey = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Formats a zod issue path as a Kubernetes field path: `spec.traffic[1].percent`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  let previous: PropertyKey | undefined;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const s = String(segment);
      if ((typeof previous === 'string' && mapFields.has(previous)) || !plainKey.test(s)) out += `[${s}]`;
      else out += out === '' ? s : `.${s}`;
    }
    previous = segment;
  }
  return out;
}

/** Turns zod's issues into field errors a user can act on. */
export function zodCauses(error: z.core.$ZodError): FieldError[] {
  const causes: FieldError[] = [];
  for (const issue of error.issues) {
    const field = fieldPath(issue.path);
    const input = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case 'invalid_type':
        if (input === undefined) causes.push(required(field));
        else {
          causes.push({
            field,
            reason: 'FieldValueTypeInvalid',
            message: `Invalid value: ${show(input)}: must be ${article(issue.expected)}`,
          });
        }
        break;
      case 'unrecognized_keys':
        for (const k of issue.keys) {
          causes.push(
            forbidden(
              fieldPath([...issue.path, k]),
              'must not set the field(s): not a field of this object in Knative Serving (names are case-sensitive)',
            ),
          );
        }
        break;
      case 'invalid_value':
        causes.push(notSupported(field, input, issue.values.map(String)));
        break;
      case 'custom': {
        // A refinement's Knative rule (`knativeRules`): its field error as it is.
        const cause = (issue.params as { cause?: FieldError } | undefined)?.cause;
        causes.push(cause ?? invalid(field, input, issue.message));
        break;
      }
      case 'invalid_union':
        causes.push(invalid(field, input, 'must be a whole number or a string'));
        break;
      default:
        causes.push(invalid(field, input, issue.message));
    }
  }
  return causes;
}

function article(expected: string): string {
  if (expected === 'int') return 'a whole number';
  if (expected === 'array') return 'a list';
  if (expected === 'object') return 'an object';
  if (expected === 'record') return 'an object (a map of strings)';
  return `a ${expected}`;
}

interface KindCodec<T> {
  schema: z.ZodType<T>;
  defaults: (value: T, opts: ValidationOptions) => T;
  validate: (value: T, opts: ValidationOptions) => FieldError[];
}

const codecs = {
  Service: {
    schema: ServiceSchema,
    defaults: (s, o) => defaultService(s, o.defaults),
    validate: validateService,
  } satisfies KindCodec<Service>,
  Configuration: {
    schema: ConfigurationSchema,
    defaults: (c, o) => defaultConfiguration(c, o.defaults),
    validate: validateConfiguration,
  } satisfies KindCodec<Configuration>,
  Route: {
    schema: RouteSchema,
    defaults: (r) => defaultRoute(r),
    validate: (r) => validateRoute(r),
  } satisfies KindCodec<Route>,
  DomainMapping: {
    schema: DomainMappingSchema,
    defaults: (d) => defaultDomainMapping(d),
    validate: (d) => validateDomainMapping(d),
  } satisfies KindCodec<DomainMapping>,
};

export type WritableKind = keyof typeof codecs;
type KindType = { Service: Service; Configuration: Configuration; Route: Route; DomainMapping: DomainMapping };

/**
 * Reads a resource of `kind` from a parsed document: checks its shape, applies Knative's defaults,
 * then validates it. Any problem is a 422 `Status` listing every bad field at once.
 */
export function decodeResource<K extends WritableKind>(
  kind: K,
  input: unknown,
  opts: ValidationOptions = {},
): Parsed<KindType[K]> {
  const name = nameOf(input);
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return {
      ok: false,
      status: invalidStatus(kind, name, [
        { field: '', reason: 'FieldValueTypeInvalid', message: `Invalid value: ${show(input)}: must be an object` },
      ]),
    };
  }
  const codec = codecs[kind] as unknown as KindCodec<KindType[K]>;
  const shaped = codec.schema.safeParse(input, { reportInput: true });
  if (!shaped.success) return { ok: false, status: invalidStatus(kind, name, zodCauses(shaped.error)) };
  const defaulted = codec.defaults(shaped.data, opts);
  const causes = codec.validate(defaulted, opts);
  if (causes.length > 0) return { ok: false, status: invalidStatus(kind, name, causes) };
  return { ok: true, value: defaulted };
}

/**
 * The 422 for an object whose `metadata` is there but is not an object (a string, number, boolean
 * or list), checked before anything sets fields on it; `undefined` when it is fine or absent.
 */
export function metadataTypeProblem(kind: string, input: object): Status | undefined {
  const meta = (input as { metadata?: unknown }).metadata;
  if (meta === undefined || meta === null || (typeof meta === 'object' && !Array.isArray(meta))) return undefined;
  return invalidStatus(kind, undefined, [
    { field: 'metadata', reason: 'FieldValueTypeInvalid', message: `Invalid value: ${show(meta)}: must be an object` },
  ]);
}

/** The kind a document says it is, when it is one Skiff accepts for writing. */
export function writableKind(input: unknown): WritableKind | undefined {
  const record = input as { apiVersion?: unknown; kind?: unknown } | null;
  if (record?.apiVersion !== apiVersion) return undefined;
  const kind = record.kind as Kind;
  return kind === 'Service' || kind === 'Configuration' || kind === 'Route' ? kind : undefined;
}

function nameOf(input: unknown): string | undefined {
  const meta = (input as { metadata?: { name?: unknown } } | null)?.metadata;
  return typeof meta?.name === 'string' ? meta.name : undefined;
}
