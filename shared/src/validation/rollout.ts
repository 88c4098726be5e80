import { rolloutAnnotationParsers, rolloutAnnotationPrefix } from '../config/rollout.ts';
import { child, type FieldError, invalid, key, notSupported } from '../errors/field-error.ts';

/** Validates Skiff's `rollout.skiff.dev/*` annotations on a Service's metadata: known names, valid values. */
export function validateRolloutAnnotations(
  annotations: Record<string, string> | undefined,
  path: string,
): FieldError[] {
  const errs: FieldError[] = [];
  const at = child(path, 'annotations');
  for (const [k, v] of Object.entries(annotations ?? {})) {
    if (!k.startsWith(rolloutAnnotationPrefix)) continue;
    const parse = rolloutAnnotationParsers[k];
    if (parse === undefined) {
      errs.push(notSupported(at, k, Object.keys(rolloutAnnotationParsers)));
      continue;
    }
    const parsed = parse(v);
    if (!parsed.ok) errs.push(invalid(key(at, k), v, parsed.message));
  }
  return errs;
}
