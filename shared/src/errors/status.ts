import { z } from 'zod';
import type { FieldError } from './field-error.ts';

/** A Kubernetes `Status` object: the body of every API error. */
export const StatusCauseSchema = z.object({
  field: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});

export const StatusSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Status'),
  metadata: z.object({}).loose(),
  status: z.enum(['Success', 'Failure']),
  message: z.string(),
  reason: z.string(),
  code: z.int(),
  details: z
    .object({
      name: z.string().optional(),
      group: z.string().optional(),
      kind: z.string().optional(),
      causes: z.array(StatusCauseSchema).optional(),
      retryAfterSeconds: z.int().optional(),
    })
    .optional(),
});
export type Status = z.infer<typeof StatusSchema>;

/** `reason` values of a failed `Status`, with the HTTP code each one goes with. */
export const statusReasons = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
} as const;
export type StatusReason = keyof typeof statusReasons;

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: FieldError[];
}

export function failure(reason: StatusReason, message: string, details?: StatusDetails): Status {
  const status: Status = {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code: statusReasons[reason],
  };
  if (details) status.details = details;
  return status;
}

export const servingGroup = 'serving.knative.dev';

/**
 * The 422 a Kubernetes API server answers for an invalid object, naming every bad field:
 * `Service.serving.knative.dev "hello" is invalid: [spec.traffic[1].percent: Invalid value: ...]`.
 */
export function invalidStatus(kind: string, name: string | undefined, causes: FieldError[]): Status {
  const listed = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = listed.length === 1 ? listed[0] : `[${listed.join(', ')}]`;
  const details: StatusDetails = { group: servingGroup, kind, causes };
  if (name) details.name = name;
  return failure('Invalid', `${kind}.${servingGroup} ${JSON.stringify(name ?? '')} is invalid: ${summary}`, details);
}

/** The 400 for a body that cannot be read as JSON or YAML at all. */
export function badRequest(message: string, causes?: FieldError[]): Status {
  return failure('BadRequest', message, causes ? { causes } : undefined);
}

export function notFound(kind: string, name: string): Status {
  return failure('NotFound', `${lowerPlural(kind)}.${servingGroup} ${JSON.stringify(name)} not found`, {
    name,
    group: servingGroup,
    kind: lowerPlural(kind),
  });
}

export function conflict(kind: string, name: string, message: string): Status {
  return failure(
    'Conflict',
    `Operation cannot be fulfilled on ${lowerPlural(kind)}.${servingGroup} ${JSON.stringify(name)}: ${message}`,
    { name, group: servingGroup, kind: lowerPlural(kind) },
  );
}

function lowerPlural(kind: string): string {
  return `${kind.toLowerCase()}s`;
}
