import { child, type FieldError, invalid, key, required } from '../errors/field-error.ts';
import type { ObjectMeta } from '../schemas/meta.ts';
import {
  dns1035LabelProblems,
  dns1035PrefixProblems,
  dns1123LabelProblems,
  labelValueProblems,
  qualifiedNameProblems,
} from './names.ts';

/** Total size of all annotations of one object, as Kubernetes limits it. */
export const maxAnnotationsBytes = 256 * 1024;

export interface MetadataRules {
  /** The name must be a DNS-1035 label (it becomes part of a host name). */
  nameIsDns1035: boolean;
  /** A name (or generateName) is required. */
  nameRequired: boolean;
}

/** Validates an object's metadata: name, namespace, labels and annotations. */
export function validateObjectMeta(meta: ObjectMeta | undefined, path: string, rules: MetadataRules): FieldError[] {
  const errs: FieldError[] = [];
  const name = meta?.name;
  const generateName = meta?.generateName;
  if (name) {
    const problems = rules.nameIsDns1035 ? dns1035LabelProblems(name) : dns1123LabelProblems(name);
    for (const p of problems) errs.push(invalid(child(path, 'name'), name, p));
  } else if (generateName) {
    for (const p of dns1035PrefixProblems(generateName))
      errs.push(invalid(child(path, 'generateName'), generateName, p));
  } else if (rules.nameRequired) {
    errs.push(required(child(path, 'name'), 'name or generateName is required'));
  }
  if (meta?.namespace) {
    for (const p of dns1123LabelProblems(meta.namespace)) {
      errs.push(invalid(child(path, 'namespace'), meta.namespace, p));
    }
  }
  errs.push(...validateLabels(meta?.labels, child(path, 'labels')));
  errs.push(...validateAnnotationKeys(meta?.annotations, child(path, 'annotations')));
  return errs;
}

export function validateLabels(labels: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    for (const p of qualifiedNameProblems(k)) errs.push(invalid(path, k, p));
    for (const p of labelValueProblems(v)) errs.push(invalid(key(path, k), v, p));
  }
  return errs;
}

export function validateAnnotationKeys(annotations: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let bytes = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    for (const p of qualifiedNameProblems(k.toLowerCase())) errs.push(invalid(path, k, p));
    bytes += utf8Length(k) + utf8Length(v);
  }
  if (bytes > maxAnnotationsBytes) {
    errs.push({
      field: path,
      reason: 'FieldValueTooLong',
      message: `Too long: may not be more than ${maxAnnotationsBytes} bytes (keys and values together; these are ${bytes})`,
    });
  }
  return errs;
}

/** Bytes of a string in UTF-8, as Kubernetes counts annotation sizes. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair: one code point of four bytes
      i++;
    } else n += 3;
  }
  return n;
}
