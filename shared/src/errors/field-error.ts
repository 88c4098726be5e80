/**
 * One problem with one field of a resource, in the shape of a Kubernetes `StatusCause`.
 * `field` is a path such as `spec.traffic[1].percent` or
 * `spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]`.
 */
export interface FieldError {
  field: string;
  reason: CauseReason;
  message: string;
}

/** Kubernetes `CauseType` values (`k8s.io/apimachinery/pkg/apis/meta/v1`). */
export type CauseReason =
  | 'FieldValueRequired'
  | 'FieldValueNotFound'
  | 'FieldValueInvalid'
  | 'FieldValueDuplicate'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTypeInvalid';

/** Appends a property to a field path: `child('spec', 'traffic')` → `spec.traffic`. */
export function child(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

/** Appends a list index: `index('spec.traffic', 1)` → `spec.traffic[1]`. */
export function index(path: string, i: number): string {
  return `${path}[${i}]`;
}

/** Appends a map key: `key('metadata.annotations', 'a/b')` → `metadata.annotations[a/b]`. */
export function key(path: string, k: string): string {
  return `${path}[${k}]`;
}

/** Formats a value the way Kubernetes error messages quote it. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  return JSON.stringify(value) ?? String(value);
}

export function required(field: string, detail?: string): FieldError {
  return { field, reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value' };
}

export function invalid(field: string, value: unknown, detail: string): FieldError {
  return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${detail}` };
}

export function outOfRange(field: string, value: unknown, min: number | string, max: number | string): FieldError {
  return invalid(field, value, `must be between ${min} and ${max} inclusive`);
}

export function duplicate(field: string, value: unknown, detail?: string): FieldError {
  const base = `Duplicate value: ${show(value)}`;
  return { field, reason: 'FieldValueDuplicate', message: detail ? `${base}: ${detail}` : base };
}

export function notSupported(field: string, value: unknown, allowed: readonly string[]): FieldError {
  return {
    field,
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${show(value)}: supported values: ${allowed.map((a) => show(a)).join(', ')}`,
  };
}

export function forbidden(field: string, detail: string): FieldError {
  return { field, reason: 'FieldValueForbidden', message: `Forbidden: ${detail}` };
}

export function tooLong(field: string, max: number): FieldError {
  return { field, reason: 'FieldValueTooLong', message: `Too long: must have at most ${max} characters` };
}
